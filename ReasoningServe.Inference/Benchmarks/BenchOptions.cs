using System.Globalization;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>`bench serve` settings, with the flag names of `vllm bench serve`.</summary>
internal sealed class BenchOptions
{
    public string BaseUrl { get; set; } = "http://127.0.0.1:8000";
    public string Endpoint { get; set; } = "/v1/completions";
    public string? Model { get; set; }
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
    /// <summary>Gamma shape of the inter-arrival times: 1 is Poisson, lower is burstier.</summary>
    public double Burstiness { get; set; } = 1.0;
    public bool IgnoreEos { get; set; }
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

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var o = new BenchOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string flag = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new BenchException($"{flag} needs a value.");
            switch (flag)
            {
                case "--base-url": o.BaseUrl = Value(); break;
                case "--endpoint": o.Endpoint = Value(); break;
                case "--model": o.Model = Value(); break;
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
                case "--ignore-eos": o.IgnoreEos = true; break;
                case "--seed": o.Seed = Int(flag, Value()); break;
                case "--num-warmups": o.NumWarmups = Int(flag, Value()); break;
                case "--percentile-metrics": o.PercentileMetrics = Value().Split(',', StringSplitOptions.RemoveEmptyEntries); break;
                case "--metric-percentiles":
                    o.MetricPercentiles = [.. Value().Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => Double(flag, v))];
                    break;
                case "--save-result": o.SaveResult = true; break;
                case "--result-filename": o.ResultFilename = Value(); break;
                case "--result-dir": o.ResultDir = Value(); break;
                case "--api-key": o.ApiKey = Value(); break;
                case "--sweep-concurrency":
                    o.SweepConcurrency = [.. Value().Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => Int(flag, v))];
                    break;
                case "--disable-tqdm": o.DisableProgress = true; break;
                default: throw new BenchException($"Unknown flag {flag} (see `bench serve --help`).");
            }
        }
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
        if (NumPrompts < 1 || RandomInputLen < 1 || RandomOutputLen < 1 || RandomPrefixLen < 0)
        {
            throw new BenchException("--num-prompts, --random-input-len and --random-output-len must be positive.");
        }
        if (RandomRangeRatio is < 0 or >= 1)
        {
            throw new BenchException("--random-range-ratio must be in [0, 1).");
        }
        if (RequestRate <= 0 || Burstiness <= 0)
        {
            throw new BenchException("--request-rate and --burstiness must be positive.");
        }
        if (MaxConcurrency is < 1)
        {
            throw new BenchException("--max-concurrency must be positive.");
        }
    }

    private static int Int(string flag, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new BenchException($"{flag} takes an integer, not '{value}'.");

    private static double Double(string flag, string value) =>
        value is "inf" or "infinity" ? double.PositiveInfinity
        : double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d
        : throw new BenchException($"{flag} takes a number, not '{value}'.");
}

/// <summary>A benchmark setting or target that cannot work; the message says which.</summary>
internal sealed class BenchException(string message) : Exception(message);
