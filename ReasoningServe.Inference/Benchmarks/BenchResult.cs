using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>
/// A run's numbers under vLLM's result field names (completed, request_throughput, mean_ttft_ms, p99_itl_ms, input_lens,
/// itls, errors, …), so scripts that compare vLLM results read ours unchanged; reasoning token counts, the dataset and
/// the command line are added under names of their own.
/// </summary>
internal static class BenchResult
{
    private static readonly (string Key, string Name, string Header)[] Sections =
    [
        ("ttft", "TTFT", "Time to First Token"),
        ("tpot", "TPOT", "Time per Output Token (excl. 1st token)"),
        ("itl", "ITL", "Inter-token Latency"),
        ("e2el", "E2EL", "End-to-end Latency"),
    ];

    public static JsonObject Build(BenchOptions options, IReadOnlyList<RequestMetrics> requests, double duration)
    {
        int completed = 0;
        long input = 0, output = 0, reasoning = 0;
        var series = new Dictionary<string, List<double>> { ["ttft"] = [], ["tpot"] = [], ["itl"] = [], ["e2el"] = [] };
        foreach (RequestMetrics r in requests)
        {
            if (!r.Success)
            {
                continue;
            }
            completed++;
            input += r.PromptLen;
            output += r.OutputTokens;
            reasoning += r.ReasoningTokens;
            series["ttft"].Add(r.Ttft * 1000);
            series["e2el"].Add(r.Latency * 1000);
            if (r.OutputTokens > 1)
            {
                series["tpot"].Add((r.Latency - r.Ttft) / (r.OutputTokens - 1) * 1000);
            }
            foreach (double gap in r.Itl)
            {
                series["itl"].Add(gap * 1000);
            }
        }
        var result = new JsonObject
        {
            ["date"] = DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture),
            ["backend"] = "openai",
            ["endpoint_type"] = "openai",
            ["label"] = null,
            ["model_id"] = options.RequestModel,
            ["tokenizer_id"] = options.TokenizerFolder,
            ["num_prompts"] = requests.Count,
            ["request_rate"] = double.IsPositiveInfinity(options.RequestRate) ? "inf" : options.RequestRate,
            ["burstiness"] = options.Burstiness,
            ["max_concurrency"] = options.MaxConcurrency,
            ["duration"] = duration,
            ["completed"] = completed,
            ["failed"] = requests.Count - completed,
            ["total_input_tokens"] = input,
            ["total_output_tokens"] = output,
            ["request_throughput"] = completed / duration,
            ["request_goodput"] = null,
            ["output_throughput"] = output / duration,
            ["total_token_throughput"] = (input + output) / duration,
            ["total_reasoning_tokens"] = reasoning,
            ["total_content_tokens"] = output - reasoning,
            ["dataset_name"] = options.DatasetName,
            ["endpoint"] = options.Endpoint,
            ["base_url"] = options.BaseUrl,
            ["ignore_eos"] = options.IgnoreEos,
            ["temperature"] = options.Temperature,
            ["top_p"] = options.TopP,
            ["top_k"] = options.TopK,
            ["min_p"] = options.MinP,
            ["seed"] = options.Seed,
        };
        var percentiles = new List<double>(options.MetricPercentiles);
        foreach (double always in new[] { 90.0, 99.0 })
        {
            if (!percentiles.Contains(always))
            {
                percentiles.Add(always);
            }
        }
        foreach (var (key, _, _) in Sections)
        {
            var stats = new LatencyStats(series[key]);
            result[$"mean_{key}_ms"] = stats.Mean;
            result[$"median_{key}_ms"] = stats.Median;
            result[$"std_{key}_ms"] = stats.Std;
            foreach (double p in percentiles)
            {
                result[$"p{Label(p)}_{key}_ms"] = stats.Percentile(p);
            }
        }
        result["input_lens"] = Array(requests, r => r.PromptLen);
        result["output_lens"] = Array(requests, r => r.Success ? r.OutputTokens : 0);
        result["reasoning_lens"] = Array(requests, r => r.Success ? r.ReasoningTokens : 0);
        result["ttfts"] = Array(requests, r => r.Success ? r.Ttft : 0);
        var itls = new JsonArray();
        foreach (RequestMetrics r in requests)
        {
            itls.Add(new JsonArray([.. r.Itl.Select(v => JsonValue.Create(v))]));
        }
        result["itls"] = itls;
        result["latencies"] = Array(requests, r => r.Success ? r.Latency : 0);
        result["start_times"] = Array(requests, r => r.StartTime);
        result["generated_texts"] = Array(requests, r => r.GeneratedText);
        if (reasoning > 0)
        {
            result["reasoning_texts"] = Array(requests, r => r.ReasoningText);
        }
        result["errors"] = Array(requests, r => r.Error ?? "");
        return result;
    }

    /// <summary>The summary vLLM prints, for the metrics asked with --percentile-metrics (E2E always).</summary>
    public static string Summary(BenchOptions options, JsonObject r)
    {
        var s = new StringBuilder();
        s.AppendLine(Rule(" Serving Benchmark Result ", '='));
        Line(s, "Successful requests:", r["completed"]);
        Line(s, "Failed requests:", r["failed"]);
        if (options.MaxConcurrency is int concurrency)
        {
            Line(s, "Maximum request concurrency:", concurrency);
        }
        if (!double.IsPositiveInfinity(options.RequestRate))
        {
            Line(s, "Request rate configured (RPS):", options.RequestRate);
        }
        Line(s, "Benchmark duration (s):", r["duration"]);
        Line(s, "Total input tokens:", r["total_input_tokens"]);
        Line(s, "Total generated tokens:", r["total_output_tokens"]);
        if (options.DatasetName == "reasoning" || r["total_reasoning_tokens"]!.GetValue<long>() > 0)
        {
            Line(s, "  of which reasoning tokens:", r["total_reasoning_tokens"]);
            Line(s, "  of which content tokens:", r["total_content_tokens"]);
        }
        Line(s, "Request throughput (req/s):", r["request_throughput"]);
        Line(s, "Output token throughput (tok/s):", r["output_throughput"]);
        Line(s, "Total token throughput (tok/s):", r["total_token_throughput"]);
        foreach (var (key, name, header) in Sections)
        {
            if (key != "e2el" && !options.PercentileMetrics.Contains(key))
            {
                continue;
            }
            s.AppendLine(Rule(header, '-'));
            Line(s, $"Mean {name} (ms):", r[$"mean_{key}_ms"]);
            Line(s, $"Median {name} (ms):", r[$"median_{key}_ms"]);
            foreach (double p in options.MetricPercentiles)
            {
                Line(s, $"P{Label(p)} {name} (ms):", r[$"p{Label(p)}_{key}_ms"]);
            }
        }
        s.Append(new string('=', 50));
        return s.ToString();
    }

    public static string Label(double p) => p.ToString("0.###", CultureInfo.InvariantCulture);

    private static JsonArray Array<T>(IReadOnlyList<RequestMetrics> requests, Func<RequestMetrics, T> value)
    {
        var array = new JsonArray();
        foreach (RequestMetrics r in requests)
        {
            array.Add(JsonValue.Create(value(r)));
        }
        return array;
    }

    private static string Rule(string title, char fill)
    {
        int left = (50 - title.Length) / 2;
        return new string(fill, Math.Max(0, left)) + title + new string(fill, Math.Max(0, 50 - left - title.Length));
    }

    private static void Line(StringBuilder s, string label, object? value)
    {
        string text = value switch
        {
            JsonValue v when v.TryGetValue(out int i) => i.ToString(CultureInfo.InvariantCulture),
            JsonValue v when v.TryGetValue(out long l) => l.ToString(CultureInfo.InvariantCulture),
            JsonValue v when v.TryGetValue(out double d) => d.ToString("0.00", CultureInfo.InvariantCulture),
            double d => d.ToString("0.00", CultureInfo.InvariantCulture),
            null => "",
            _ => value.ToString() ?? "",
        };
        s.AppendLine($"{label,-40} {text,-10}");
    }
}
