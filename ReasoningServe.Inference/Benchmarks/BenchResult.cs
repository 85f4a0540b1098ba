using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>
/// A run's numbers under vLLM's result field names (completed, request_throughput, mean_ttft_ms, p99_itl_ms, …), so
/// scripts that compare vLLM results read ours unchanged.
/// </summary>
internal static class BenchResult
{
    public static JsonObject Build(BenchOptions options, IReadOnlyList<RequestMetrics> requests, double duration)
    {
        var ok = requests.Where(r => r.Success).ToList();
        long input = ok.Sum(r => (long)r.PromptLen);
        long output = ok.Sum(r => (long)r.OutputTokens);
        var result = new JsonObject
        {
            ["date"] = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture),
            ["backend"] = "openai",
            ["base_url"] = options.BaseUrl,
            ["endpoint"] = options.Endpoint,
            ["model_id"] = options.Model,
            ["dataset_name"] = options.DatasetName,
            ["num_prompts"] = requests.Count,
            ["request_rate"] = double.IsPositiveInfinity(options.RequestRate) ? "inf" : options.RequestRate,
            ["burstiness"] = options.Burstiness,
            ["max_concurrency"] = options.MaxConcurrency,
            ["duration"] = duration,
            ["completed"] = ok.Count,
            ["failed"] = requests.Count - ok.Count,
            ["total_input_tokens"] = input,
            ["total_output_tokens"] = output,
            ["total_reasoning_tokens"] = ok.Sum(r => (long)r.ReasoningTokens),
            ["request_throughput"] = ok.Count / duration,
            ["output_throughput"] = output / duration,
            ["total_token_throughput"] = (input + output) / duration,
        };
        var series = new Dictionary<string, List<double>>
        {
            ["ttft"] = [.. ok.Select(r => r.Ttft * 1000)],
            ["tpot"] = [.. ok.Where(r => r.OutputTokens > 1).Select(r => (r.Latency - r.Ttft) / (r.OutputTokens - 1) * 1000)],
            ["itl"] = [.. ok.SelectMany(r => r.Itl).Select(s => s * 1000)],
            ["e2el"] = [.. ok.Select(r => r.Latency * 1000)],
        };
        foreach (var (metric, values) in series)
        {
            values.Sort();
            result[$"mean_{metric}_ms"] = values.Count > 0 ? values.Average() : 0;
            result[$"median_{metric}_ms"] = Percentile(values, 50);
            result[$"std_{metric}_ms"] = StdDev(values);
            foreach (double p in options.MetricPercentiles.Append(90).Append(99).Distinct())
            {
                result[$"p{Label(p)}_{metric}_ms"] = Percentile(values, p);
            }
        }
        result["input_lens"] = new JsonArray([.. requests.Select(r => JsonValue.Create(r.PromptLen))]);
        result["output_lens"] = new JsonArray([.. requests.Select(r => JsonValue.Create(r.OutputTokens))]);
        result["ttfts"] = new JsonArray([.. requests.Select(r => JsonValue.Create(r.Ttft))]);
        result["itls"] = new JsonArray([.. requests.Select(r => new JsonArray([.. r.Itl.Select(v => JsonValue.Create(v))]))]);
        result["generated_texts"] = new JsonArray([.. requests.Select(r => JsonValue.Create(r.GeneratedText))]);
        result["errors"] = new JsonArray([.. requests.Select(r => JsonValue.Create(r.Error ?? ""))]);
        return result;
    }

    /// <summary>The summary table vLLM prints, for the metrics asked with --percentile-metrics.</summary>
    public static string Summary(BenchOptions options, JsonObject r)
    {
        var s = new StringBuilder();
        s.AppendLine("============ Serving Benchmark Result ============");
        Line(s, "Successful requests:", r["completed"]);
        Line(s, "Failed requests:", r["failed"]);
        Line(s, "Maximum request concurrency:", r["max_concurrency"]?.ToString() ?? "unbounded");
        Line(s, "Benchmark duration (s):", r["duration"]);
        Line(s, "Total input tokens:", r["total_input_tokens"]);
        Line(s, "Total generated tokens:", r["total_output_tokens"]);
        Line(s, "Of which reasoning tokens:", r["total_reasoning_tokens"]);
        Line(s, "Request throughput (req/s):", r["request_throughput"]);
        Line(s, "Output token throughput (tok/s):", r["output_throughput"]);
        Line(s, "Total token throughput (tok/s):", r["total_token_throughput"]);
        foreach (string metric in options.PercentileMetrics.Append("e2el").Distinct())
        {
            s.AppendLine($"---------------{metric.ToUpperInvariant(),-8}-------------------------");
            Line(s, $"Mean {metric.ToUpperInvariant()} (ms):", r[$"mean_{metric}_ms"]);
            Line(s, $"Median {metric.ToUpperInvariant()} (ms):", r[$"median_{metric}_ms"]);
            foreach (double p in options.MetricPercentiles)
            {
                Line(s, $"P{Label(p)} {metric.ToUpperInvariant()} (ms):", r[$"p{Label(p)}_{metric}_ms"]);
            }
        }
        s.Append("==================================================");
        return s.ToString();
    }

    public static double Percentile(List<double> sorted, double p)
    {
        if (sorted.Count == 0)
        {
            return 0;
        }
        // Linear interpolation between closest ranks, as numpy.percentile does by default.
        double rank = p / 100 * (sorted.Count - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }

    public static string Label(double p) => p.ToString("0.##", CultureInfo.InvariantCulture);

    private static double StdDev(List<double> values)
    {
        if (values.Count == 0)
        {
            return 0;
        }
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Count);
    }

    private static void Line(StringBuilder s, string label, object? value)
    {
        string text = value switch
        {
            JsonValue v when v.TryGetValue(out double d) && d != Math.Floor(d) => d.ToString("0.00", CultureInfo.InvariantCulture),
            null => "",
            _ => value.ToString() ?? "",
        };
        s.AppendLine($"{label,-40}{text,10}");
    }
}
