using System.Globalization;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>`bench serve` settings, with the flag names and defaults of `vllm bench serve`.</summary>
internal sealed class BenchOptions
{
    public static readonly string[] PercentileMetricNames = ["ttft", "tpot", "itl", "e2el"];

    public string BaseUrl { get; set; } = "http://127.0.0.1:8000";
    public string Endpoint { get; set; } = "/v1/completions";
    /// <summary>The model named in requests; when it is a folder it also gives the tokenizer.</summary>
    public string? Model { get; set; }
    /// <summary>The name sent in requests when --model is a folder the server knows under another name.</summary>
    public string? ServedModelName { get; set; }
    /// <summary>A model folder whose tokenizer.json makes random prompts token-exact; defaults to --model when that is a folder.</summary>
    public string? Tokenizer { get; set; }
    public string DatasetName { get; set; } = "random";
    public int RandomInputLen { get; set; } = 1024;
    public int RandomOutputLen { get; set; } = 128;
    public double RandomRangeRatio { get; set; }
    public int RandomPrefixLen { get; set; }
    public int NumPrompts { get; set; } = 1000;
    public int? MaxConcurrency { get; set; }
    /// <summary>Requests per second; infinity sends all at once (bounded by --max-concurrency).</summary>
    public double RequestRate { get; set; } = double.PositiveInfinity;
    /// <summary>Gamma shape of the inter-arrival times: 1 is Poisson, lower is burstier, higher more regular.</summary>
    public double Burstiness { get; set; } = 1.0;
    public bool IgnoreEos { get; set; }
    /// <summary>Sent with every request; greedy by default so runs are repeatable (vLLM leaves it to the server).</summary>
    public double Temperature { get; set; }
    /// <summary>Sent only when given (vLLM's --top-p, --top-k, --min-p): the server's defaults otherwise.</summary>
    public double? TopP { get; set; }
    public int? TopK { get; set; }
    public double? MinP { get; set; }
    public int Seed { get; set; }
    public int NumWarmups { get; set; }
    public IReadOnlyList<string> PercentileMetrics { get; set; } = ["ttft", "tpot", "itl"];
    public IReadOnlyList<double> MetricPercentiles { get; set; } = [99];
    public bool SaveResult { get; set; }
    public string? ResultFilename { get; set; }
    public string? ResultDir { get; set; }
    public string? ApiKey { get; set; } = Environment.GetEnvironmentVariable("OPENAI_API_KEY");
    /// <summary>Sweep mode: one run per concurrency, one table and one chart.</summary>
    public IReadOnlyList<int>? SweepConcurrency { get; set; }
    public bool DisableProgress { get; set; }
    public bool Help { get; private set; }
    /// <summary>The arguments after `bench serve`, as given: recorded in every saved result.</summary>
    public IReadOnlyList<string> Arguments { get; private set; } = [];

    /// <summary>Where the tokenizer comes from: --tokenizer, else --model when that is a folder.</summary>
    public string? TokenizerFolder => Tokenizer ?? (Model is not null && Directory.Exists(Model) ? Model : null);

    /// <summary>The model name requests carry.</summary>
    public string RequestModel => ServedModelName ?? Model ?? "default";

    public bool IsChat => Endpoint == "/v1/chat/completions";

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var o = new BenchOptions { Arguments = [.. args] };
        bool ignoreEosGiven = false;
        for (int i = 0; i < args.Count; i++)
        {
            string flag = args[i];
            string? inline = null;
            if (flag.StartsWith("--", StringComparison.Ordinal) && flag.IndexOf('=') is > 2 and var eq)
            {
                inline = flag[(eq + 1)..];
                flag = flag[..eq];
            }
            flag = flag.Replace('_', '-');
            string Value() => inline ?? (i + 1 < args.Count ? args[++i] : throw new BenchException($"{flag} needs a value."));
            switch (flag)
            {
                case "--base-url": o.BaseUrl = Value(); break;
                case "--endpoint": o.Endpoint = Value(); break;
                case "--model": o.Model = Value(); break;
                case "--served-model-name": o.ServedModelName = Value(); break;
                case "--tokenizer": o.Tokenizer = Value(); break;
                case "--dataset-name": o.DatasetName = Value(); break;
                case "--random-input-len": o.RandomInputLen = Int(flag, Value()); break;
                case "--random-output-len": o.RandomOutputLen = Int(flag, Value()); break;
                case "--random-range-ratio": o.RandomRangeRatio = Double(flag, Value()); break;
                case "--random-prefix-len": o.RandomPrefixLen = Int(flag, Value()); break;
                case "--num-prompts": o.NumPrompts = Int(flag, Value()); break;
                case "--max-concurrency": o.MaxConcurrency = Int(flag, Value()); break;
                case "--request-rate": o.RequestRate = Double(flag, Value()); break;
                case "--burstiness": o.Burstiness = Double(flag, Value()); break;
                case "--ignore-eos": o.IgnoreEos = true; ignoreEosGiven = true; break;
                case "--temperature": o.Temperature = Double(flag, Value()); break;
                case "--top-p": o.TopP = Double(flag, Value()); break;
                case "--top-k": o.TopK = Int(flag, Value()); break;
                case "--min-p": o.MinP = Double(flag, Value()); break;
                case "--seed": o.Seed = Int(flag, Value()); break;
                case "--num-warmups": o.NumWarmups = Int(flag, Value()); break;
                case "--percentile-metrics": o.PercentileMetrics = List(Value()); break;
                case "--metric-percentiles": o.MetricPercentiles = [.. List(Value()).Select(v => Double(flag, v))]; break;
                case "--save-result": o.SaveResult = true; break;
                case "--result-filename": o.ResultFilename = Value(); break;
                case "--result-dir": o.ResultDir = Value(); break;
                case "--api-key": o.ApiKey = Value(); break;
                case "--sweep-concurrency": o.SweepConcurrency = [.. List(Value()).Select(v => Int(flag, v))]; break;
                case "--disable-tqdm": o.DisableProgress = true; break;
                case "--help" or "-h": o.Help = true; break;
                default: throw new BenchException($"Unknown flag {flag} (see `bench serve --help`).");
            }
        }
        // As vLLM does for its random datasets: generation runs to the asked length, so lengths are the workload's.
        o.IgnoreEos = ignoreEosGiven || o.DatasetName is "random" or "prefix";
        o.Validate();
        return o;
    }

    private void Validate()
    {
        if (DatasetName is not ("random" or "prefix" or "reasoning"))
        {
            throw new BenchException($"--dataset-name must be random, prefix or reasoning, not '{DatasetName}'.");
        }
        if (Endpoint is not ("/v1/completions" or "/v1/chat/completions"))
        {
            throw new BenchException($"--endpoint must be /v1/completions or /v1/chat/completions, not '{Endpoint}'.");
        }
        if (DatasetName == "reasoning" && !IsChat)
        {
            throw new BenchException("--dataset-name reasoning needs --endpoint /v1/chat/completions (thinking is a chat template switch).");
        }
        if (NumPrompts < 1 || RandomInputLen < 1 || RandomOutputLen < 1 || RandomPrefixLen < 0 || NumWarmups < 0)
        {
            throw new BenchException("--num-prompts, --random-input-len and --random-output-len must be positive; "
                + "--random-prefix-len and --num-warmups not negative.");
        }
        if (DatasetName == "prefix" && RandomPrefixLen < 1)
        {
            throw new BenchException("--dataset-name prefix needs --random-prefix-len P (the shared prefix's tokens).");
        }
        if (RandomRangeRatio is < 0 or >= 1)
        {
            throw new BenchException("--random-range-ratio must be in [0, 1).");
        }
        if (!(RequestRate > 0) || !(Burstiness > 0))
        {
            throw new BenchException("--request-rate and --burstiness must be positive.");
        }
        if (MaxConcurrency is < 1 || SweepConcurrency is not null && (SweepConcurrency.Count == 0 || SweepConcurrency.Any(c => c < 1)))
        {
            throw new BenchException("--max-concurrency and --sweep-concurrency levels must be positive.");
        }
        if (PercentileMetrics.FirstOrDefault(m => !PercentileMetricNames.Contains(m)) is { } unknown)
        {
            throw new BenchException($"--percentile-metrics takes {string.Join(',', PercentileMetricNames)}, not '{unknown}'.");
        }
        if (MetricPercentiles.Count == 0 || MetricPercentiles.Any(p => p is < 0 or > 100))
        {
            throw new BenchException("--metric-percentiles takes numbers in [0, 100].");
        }
    }

    private static string[] List(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static int Int(string flag, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new BenchException($"{flag} takes an integer, not '{value}'.");

    private static double Double(string flag, string value) =>
        value is "inf" or "infinity" ? double.PositiveInfinity
        : double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d
        : throw new BenchException($"{flag} takes a number, not '{value}'.");

    public const string Usage = """
        usage: bench serve --base-url URL [--model NAME|DIR] [--tokenizer DIR] [options]

          --base-url URL              an OpenAI-compatible server (default http://127.0.0.1:8000)
          --endpoint PATH             /v1/completions (prompts as token ids) or /v1/chat/completions
          --model NAME|DIR            model named in requests (default: the server's first /v1/models entry);
                                      a folder also gives the tokenizer
          --served-model-name NAME    name sent in requests when --model is a folder
          --tokenizer DIR             folder with tokenizer.json (random prompts are token-exact with it)
          --dataset-name NAME         random | prefix | reasoning (chat with thinking on)
          --random-input-len N        prompt tokens (default 1024)
          --random-output-len N       tokens asked per request (default 128)
          --random-range-ratio R      lengths drawn uniformly in [N(1-R), N(1+R)] (default 0)
          --random-prefix-len P       tokens of one shared prefix before every prompt (prefix: required)
          --num-prompts N             requests in the timed run (default 1000)
          --max-concurrency N         requests in flight at most (default unbounded)
          --request-rate R            requests/s with gamma arrivals (default inf: all at once)
          --burstiness K              gamma shape of the gaps: 1 Poisson, <1 burstier, >1 more regular
          --sweep-concurrency 1,4,16  one run per level, one table and one chart
          --ignore-eos                generate to the asked length (always on for random and prefix)
          --temperature T             sampling temperature sent (default 0)
          --top-p P, --top-k K, --min-p P
                                      sampling filters sent with every request (default: not sent)
          --seed N                    seeds prompts and arrivals (default 0)
          --num-warmups N             untimed requests first, on prompts of their own
          --percentile-metrics LIST   ttft,tpot,itl,e2el printed (default ttft,tpot,itl)
          --metric-percentiles LIST   percentiles printed and saved (default 99; p90 and p99 always saved)
          --save-result               write the JSON result (vLLM's fields) and a PNG chart
          --result-dir DIR, --result-filename NAME
          --api-key KEY               bearer token (default $OPENAI_API_KEY)
          --disable-tqdm              no progress bar on stderr
        """;
}

/// <summary>A benchmark setting or target that cannot work; the message says which.</summary>
internal sealed class BenchException(string message) : Exception(message);
