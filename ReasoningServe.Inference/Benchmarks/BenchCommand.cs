using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>
/// `bench serve`: a load generator against any OpenAI-compatible base URL, in the spirit of `vllm bench serve`. Prints
/// vLLM's summary, and with --save-result writes its JSON (vLLM's field names) and a PNG chart beside it.
/// </summary>
internal static class BenchCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter progress, CancellationToken cancellationToken = default)
    {
        if (args is not ["serve", .. var rest])
        {
            output.WriteLine("usage: bench serve --base-url URL --model NAME [--tokenizer DIR] [--dataset-name random|prefix|reasoning] ...");
            return 2;
        }
        BenchOptions options;
        Tokenizer tokenizer;
        try
        {
            options = BenchOptions.Parse(rest);
            tokenizer = LoadTokenizer(options);
        }
        catch (Exception e) when (e is BenchException or ModelLoadException)
        {
            output.WriteLine($"bench serve: {e.Message}");
            return 2;
        }

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 4096 }) { Timeout = Timeout.InfiniteTimeSpan };
        options.Model ??= await FirstModelAsync(http, options, cancellationToken);
        IReadOnlyList<BenchPrompt> prompts = BenchDataset.Build(options, tokenizer);
        var client = new BenchClient(http, options);

        if (options.SweepConcurrency is { } levels)
        {
            var runs = new List<(int, JsonObject)>();
            foreach (int level in levels)
            {
                options.MaxConcurrency = level;
                var (requests, duration) = await BenchRunner.RunAsync(options, prompts, client, progress, cancellationToken);
                runs.Add((level, BenchResult.Build(options, requests, duration)));
            }
            output.WriteLine(SweepTable(runs));
            Save(options, new JsonObject { ["sweep"] = new JsonArray([.. runs.Select(r => r.Item2)]) }, chart: p => BenchChart.Sweep(runs, p), output);
            return runs.All(r => r.Item2["failed"]!.GetValue<int>() == 0) ? 0 : 1;
        }

        var (results, seconds) = await BenchRunner.RunAsync(options, prompts, client, progress, cancellationToken);
        JsonObject result = BenchResult.Build(options, results, seconds);
        output.WriteLine(BenchResult.Summary(options, result));
        foreach (string error in results.Where(r => r.Error is not null).Select(r => r.Error!).Distinct().Take(3))
        {
            output.WriteLine($"error: {error}");
        }
        Save(options, result, chart: p => BenchChart.Latencies(result, p), output);
        return 0;
    }

    private static Tokenizer LoadTokenizer(BenchOptions options)
    {
        string? folder = options.Tokenizer ?? (Directory.Exists(options.Model) ? options.Model : null);
        return folder is null
            ? throw new BenchException("--tokenizer DIR is needed (a folder with tokenizer.json) unless --model is a model folder.")
            : Tokenizer.FromFolder(folder);
    }

    private static async Task<string> FirstModelAsync(HttpClient http, BenchOptions options, CancellationToken cancellationToken)
    {
        try
        {
            using JsonDocument models = JsonDocument.Parse(
                await http.GetStringAsync(options.BaseUrl.TrimEnd('/') + "/v1/models", cancellationToken));
            return models.RootElement.GetProperty("data")[0].GetProperty("id").GetString()!;
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or KeyNotFoundException or IndexOutOfRangeException)
        {
            return "default";
        }
    }

    private static void Save(BenchOptions options, JsonObject result, Action<string> chart, TextWriter output)
    {
        if (!options.SaveResult && options.ResultFilename is null)
        {
            return;
        }
        string name = options.ResultFilename
            ?? $"openai-{(options.MaxConcurrency is int c ? $"concurrency{c}" : "unbounded")}-{Path.GetFileName(options.Model?.TrimEnd('/'))}-{result["date"] ?? DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}.json";
        string path = Path.Combine(options.ResultDir ?? ".", name);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        result["command"] = "bench serve " + string.Join(' ', Environment.GetCommandLineArgs().SkipWhile(a => a != "serve").Skip(1));
        File.WriteAllText(path, result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        string png = Path.ChangeExtension(path, ".png");
        chart(png);
        output.WriteLine($"saved {path} and {png}");
    }

    private static string SweepTable(IReadOnlyList<(int Concurrency, JsonObject Result)> runs)
    {
        var s = new StringBuilder();
        s.AppendLine("| concurrency | completed | failed | req/s | output tok/s | median TTFT ms | p99 TTFT ms | median TPOT ms | p99 TPOT ms | median ITL ms |");
        s.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var (level, r) in runs)
        {
            s.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {level} | {r["completed"]} | {r["failed"]} | {D(r, "request_throughput"):0.00} | {D(r, "output_throughput"):0.0} | {D(r, "median_ttft_ms"):0.0} | {D(r, "p99_ttft_ms"):0.0} | {D(r, "median_tpot_ms"):0.00} | {D(r, "p99_tpot_ms"):0.00} | {D(r, "median_itl_ms"):0.00} |"));
        }
        return s.ToString();
    }

    private static double D(JsonObject r, string key) => r[key]!.GetValue<double>();
}
