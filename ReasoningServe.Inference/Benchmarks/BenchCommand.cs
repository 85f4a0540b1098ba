using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>
/// `bench serve`: a load generator against any OpenAI-compatible base URL, in the spirit of `vllm bench serve`. Prints
/// vLLM's summary (a table of levels in sweep mode), and with --save-result writes the JSON (vLLM's field names, plus
/// the command line) and a PNG chart beside it.
/// </summary>
internal static class BenchCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter progress, CancellationToken cancellationToken = default)
    {
        if (args is not ["serve", .. var rest])
        {
            output.WriteLine(BenchOptions.Usage);
            return 2;
        }
        BenchOptions options;
        Tokenizer tokenizer;
        try
        {
            options = BenchOptions.Parse(rest);
            if (options.Help)
            {
                output.WriteLine(BenchOptions.Usage);
                return 0;
            }
            tokenizer = options.TokenizerFolder is { } folder && File.Exists(Path.Combine(folder, Tokenizer.FileName))
                ? Tokenizer.FromFolder(folder)
                : throw new BenchException("--tokenizer DIR is needed (a folder with tokenizer.json) unless --model is such a folder.");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            output.WriteLine($"bench serve: {e.Message}");
            return 2;
        }

        using var http = new HttpClient(new SocketsHttpHandler
        {
            // One connection per in-flight stream: the client must never be what queues requests.
            MaxConnectionsPerServer = int.MaxValue,
            ConnectTimeout = TimeSpan.FromSeconds(30),
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        options.ServedModelName ??= options.Model is null ? await FirstModelAsync(http, options, cancellationToken) : null;
        var client = new BenchClient(http, options, tokenizer);
        output.WriteLine($"Traffic request rate: {(double.IsPositiveInfinity(options.RequestRate) ? "inf" : Number(options.RequestRate))}");
        output.WriteLine($"Burstiness factor: {Number(options.Burstiness)} ({(options.Burstiness == 1 ? "Poisson process" : "Gamma distribution")})");

        if (options.SweepConcurrency is { } levels)
        {
            var runs = new List<(int, JsonObject)>();
            for (int k = 0; k < levels.Count; k++)
            {
                options.MaxConcurrency = levels[k];
                output.WriteLine($"Maximum request concurrency: {levels[k]}");
                // Fresh prompts per level, so a level never finds the previous level's prompts in the prefix cache.
                JsonObject run = await RunOnceAsync(options, tokenizer, client, options.Seed + k, output, progress, cancellationToken);
                runs.Add((levels[k], run));
            }
            string table = SweepTable.Markdown(runs);
            output.WriteLine(table);
            var sweep = new JsonObject
            {
                ["date"] = runs[0].Item2["date"]?.DeepClone(),
                ["sweep_concurrency"] = new JsonArray([.. levels.Select(l => JsonValue.Create(l))]),
                ["sweep"] = new JsonArray([.. runs.Select(r => r.Item2)]),
            };
            Save(options, sweep, path => BenchChart.Sweep(runs, path), table, output);
            return 0;
        }

        output.WriteLine($"Maximum request concurrency: {options.MaxConcurrency?.ToString(CultureInfo.InvariantCulture) ?? "None"}");
        JsonObject result = await RunOnceAsync(options, tokenizer, client, options.Seed, output, progress, cancellationToken);
        output.WriteLine(BenchResult.Summary(options, result));
        Save(options, result, path => BenchChart.Latencies(result, path), table: null, output);
        return 0;
    }

    private static async Task<JsonObject> RunOnceAsync(BenchOptions options, Tokenizer tokenizer, BenchClient client, int seed,
        TextWriter output, TextWriter progress, CancellationToken cancellationToken)
    {
        List<BenchPrompt> all = BenchDataset.Build(options, tokenizer, options.NumPrompts + options.NumWarmups, seed, output);
        var (requests, duration) = await BenchRunner.RunAsync(options, all[..options.NumPrompts], all[options.NumPrompts..],
            client, seed, progress, cancellationToken);
        int shown = 0;
        foreach (RequestMetrics r in requests)
        {
            if (r.Error is not null && shown++ < 3)
            {
                output.WriteLine($"Failed request: {r.Error}");
            }
        }
        return BenchResult.Build(options, requests, duration);
    }

    private static async Task<string?> FirstModelAsync(HttpClient http, BenchOptions options, CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, options.BaseUrl.TrimEnd('/') + "/v1/models");
            if (!string.IsNullOrEmpty(options.ApiKey))
            {
                request.Headers.Authorization = new("Bearer", options.ApiKey);
            }
            using HttpResponseMessage response = await http.SendAsync(request, cancellationToken);
            using JsonDocument models = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            return models.RootElement.GetProperty("data")[0].GetProperty("id").GetString();
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // The run goes on and counts what the endpoint answers; "default" is what the request will name.
            return null;
        }
    }

    /// <summary>Writes NAME.json (the command line recorded in it), NAME.png and, for a sweep, NAME.md with the table.</summary>
    private static void Save(BenchOptions options, JsonObject result, Action<string> chart, string? table, TextWriter output)
    {
        if (!options.SaveResult && options.ResultFilename is null)
        {
            return;
        }
        string path = Path.Combine(options.ResultDir ?? ".", options.ResultFilename ?? DefaultFileName(options, result));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        result["command"] = CommandLine(options.Arguments);
        File.WriteAllText(path, result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        output.WriteLine($"Saved {path}");
        if (table is not null)
        {
            File.WriteAllText(Path.ChangeExtension(path, ".md"), $"`{result["command"]}`\n\n{table}");
        }
        string png = Path.ChangeExtension(path, ".png");
        try
        {
            chart(png);
            output.WriteLine($"Saved {png}");
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or IOException)
        {
            // The numbers are saved; a machine without Skia's native library only loses the picture.
            output.WriteLine($"No chart: {e.GetBaseException().Message}");
        }
    }

    /// <summary>vLLM's naming: BACKEND-RATEqps[-concurrencyN]-MODEL-DATE.json (sweeps: -sweep1-4-16 in place of the level).</summary>
    private static string DefaultFileName(BenchOptions options, JsonObject result)
    {
        string rate = double.IsPositiveInfinity(options.RequestRate) ? "inf" : Number(options.RequestRate);
        string load = options.SweepConcurrency is { } levels ? "-sweep" + string.Join('-', levels)
            : options.MaxConcurrency is int c ? $"-concurrency{c}" : "";
        string model = Path.GetFileName(options.RequestModel.TrimEnd('/', '\\'));
        return $"openai-{rate}qps{load}-{model}-{result["date"]}.json";
    }

    /// <summary>The command as a shell would take it back: arguments with spaces or quotes are single-quoted.</summary>
    public static string CommandLine(IEnumerable<string> args)
    {
        var parts = new List<string> { "bench", "serve" };
        foreach (string arg in args)
        {
            bool plain = arg.Length > 0 && arg.All(ch => char.IsAsciiLetterOrDigit(ch) || "-_./:=,@+%".Contains(ch));
            parts.Add(plain ? arg : "'" + arg.Replace("'", "'\\''") + "'");
        }
        return string.Join(' ', parts);
    }

    private static string Number(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
