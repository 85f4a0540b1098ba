using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using ReasoningServe.Inference.Engine;

namespace ReasoningServe.Inference.Serving.Metrics;

/// <summary>
/// GET /metrics in Prometheus text exposition with vLLM's metric names, so vLLM dashboards and autoscalers read us
/// unchanged. Engine gauges and token counters come from <see cref="EngineStats"/>; latencies are observed here.
/// </summary>
internal sealed class PrometheusMetrics(IEngineClient engine, ServedModel model)
{
    public Histogram TimeToFirstToken { get; } = new("vllm:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.",
        [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560]);

    public Histogram InterTokenLatency { get; } = new("vllm:inter_token_latency_seconds",
        "Histogram of inter-token latency in seconds.",
        [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]);

    public Histogram EndToEndLatency { get; } = new("vllm:e2e_request_latency_seconds",
        "Histogram of end to end request latency in seconds.",
        [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680]);

    private readonly ConcurrentDictionary<string, long> _finished = new(StringComparer.Ordinal);

    public void RequestFinished(string finishReason) => _finished.AddOrUpdate(finishReason, 1, static (_, n) => n + 1);

    /// <summary>Times one request: TTFT at its first tokens, inter-token latency between outputs, e2e at the end.</summary>
    public RequestTimer StartRequest() => new(this, Stopwatch.GetTimestamp());

    public string Render()
    {
        var stats = engine.Stats;
        var labels = $"model_name=\"{Escape(model.Name)}\"";
        var text = new StringBuilder(4096);
        Gauge(text, "vllm:num_requests_running", "Number of requests in model execution batches.", labels, stats.NumRunning);
        Gauge(text, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", labels, stats.NumWaiting);
        Gauge(text, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", labels, stats.KvCacheUsage);
        Counter(text, "vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.", labels, stats.PrefixCacheQueries);
        Counter(text, "vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", labels, stats.PrefixCacheHits);
        Counter(text, "vllm:prompt_tokens", "Number of prefill tokens processed.", labels, stats.PromptTokens);
        Counter(text, "vllm:generation_tokens", "Number of generation tokens processed.", labels, stats.GenerationTokens);
        Counter(text, "vllm:num_preemptions", "Cumulative number of preemptions from the engine.", labels, stats.NumPreemptions);
        text.Append("# HELP vllm:request_success_total Count of successfully processed requests.\n");
        text.Append("# TYPE vllm:request_success_total counter\n");
        foreach (var (reason, count) in _finished)
        {
            text.Append("vllm:request_success_total{").Append(labels).Append(",finished_reason=\"")
                .Append(Escape(reason)).Append("\"} ").Append(count).Append('\n');
        }
        TimeToFirstToken.WriteTo(text, labels);
        InterTokenLatency.WriteTo(text, labels);
        EndToEndLatency.WriteTo(text, labels);
        return text.ToString();
    }

    private static void Gauge(StringBuilder text, string name, string help, string labels, double value)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(" gauge\n");
        text.Append(name).Append('{').Append(labels).Append("} ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }

    private static void Counter(StringBuilder text, string name, string help, string labels, long value)
    {
        text.Append("# HELP ").Append(name).Append("_total ").Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append("_total counter\n");
        text.Append(name).Append("_total{").Append(labels).Append("} ").Append(value).Append('\n');
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}

internal struct RequestTimer(PrometheusMetrics metrics, long startTimestamp)
{
    private long _lastTimestamp;

    public void OnTokens(int count)
    {
        if (count == 0)
        {
            return;
        }
        var now = Stopwatch.GetTimestamp();
        if (_lastTimestamp == 0)
        {
            metrics.TimeToFirstToken.Observe(Stopwatch.GetElapsedTime(startTimestamp, now).TotalSeconds);
        }
        else
        {
            metrics.InterTokenLatency.Observe(Stopwatch.GetElapsedTime(_lastTimestamp, now).TotalSeconds / count);
        }
        _lastTimestamp = now;
    }

    public readonly void OnFinished(string finishReason)
    {
        metrics.EndToEndLatency.Observe(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds);
        metrics.RequestFinished(finishReason);
    }
}
