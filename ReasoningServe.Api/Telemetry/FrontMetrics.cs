using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using ReasoningServe.Api.Routing;

namespace ReasoningServe.Api.Telemetry;

/// <summary>
/// Routing decisions, retries, breaker state and rate-limit refusals: recorded on the "ReasoningServe.Api" meter (which
/// OpenTelemetry exports when ServiceDefaults adds it) and kept as plain counters for the front's own /metrics page.
/// </summary>
internal sealed class FrontMetrics : IDisposable
{
    public const string MeterName = "ReasoningServe.Api";
    public static readonly ActivitySource ActivitySource = new(MeterName);

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _routed;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _breakerTransitions;
    private readonly Counter<long> _rateLimited;
    private readonly Counter<long> _indexFallbacks;
    private readonly ConcurrentDictionary<(string Name, string Labels), long> _counts = new();
    // Lazy: the registry's breakers report here, so the registry cannot be a constructor dependency.
    private readonly Lazy<ReplicaRegistry> _registry;

    public FrontMetrics(IServiceProvider services)
    {
        _registry = new(services.GetRequiredService<ReplicaRegistry>);
        _routed = _meter.CreateCounter<long>("reasoningserve.api.routed", description: "Requests routed, by model and decision");
        _retries = _meter.CreateCounter<long>("reasoningserve.api.retries", description: "Attempts repeated on another replica");
        _breakerTransitions = _meter.CreateCounter<long>("reasoningserve.api.breaker.transitions", description: "Circuit breaker state changes");
        _rateLimited = _meter.CreateCounter<long>("reasoningserve.api.rate_limited", description: "Requests refused with 429");
        _indexFallbacks = _meter.CreateCounter<long>("reasoningserve.api.prefix_index.fallbacks", description: "Redis lookups answered by the local index");
        _meter.CreateObservableGauge("reasoningserve.api.replica.outstanding", () => Observe(r => r.Outstanding));
        _meter.CreateObservableGauge("reasoningserve.api.replica.breaker_open", () => Observe(r => r.IsAvailable ? 0 : 1));
    }

    /// <summary>decision: affinity (prefix owner chosen), affinity_overloaded (owner's queue too long), balanced.</summary>
    public void Routed(string model, string decision)
    {
        _routed.Add(1, new("model", model), new("decision", decision));
        Count("reasoningserve_api_routed_total", $"model=\"{Escape(model)}\",decision=\"{decision}\"");
    }

    public void Retried(string model, string reason)
    {
        _retries.Add(1, new("model", model), new("reason", reason));
        Count("reasoningserve_api_retries_total", $"model=\"{Escape(model)}\",reason=\"{reason}\"");
    }

    public void BreakerChanged(Replica replica, string state)
    {
        _breakerTransitions.Add(1, new("replica", replica.Id), new("state", state));
        Count("reasoningserve_api_breaker_transitions_total", $"replica=\"{Escape(replica.Id)}\",state=\"{state}\"");
    }

    public void RateLimited()
    {
        _rateLimited.Add(1);
        Count("reasoningserve_api_rate_limited_total", "");
    }

    public void IndexFallback()
    {
        _indexFallbacks.Add(1);
        Count("reasoningserve_api_prefix_index_fallbacks_total", "");
    }

    public long Get(string name, string labels = "") => _counts.TryGetValue((name, labels), out var n) ? n : 0;

    /// <summary>Prometheus text exposition of the counters above plus per-replica gauges.</summary>
    public string Render()
    {
        var text = new StringBuilder();
        foreach (var group in _counts.OrderBy(kv => kv.Key.Name, StringComparer.Ordinal).ThenBy(kv => kv.Key.Labels, StringComparer.Ordinal)
                     .GroupBy(kv => kv.Key.Name))
        {
            text.Append("# TYPE ").Append(group.Key).Append(" counter\n");
            foreach (var ((name, labels), value) in group)
            {
                text.Append(name);
                if (labels.Length > 0)
                {
                    text.Append('{').Append(labels).Append('}');
                }
                text.Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }
        text.Append("# TYPE reasoningserve_api_replica_outstanding gauge\n");
        foreach (var replica in _registry.Value.Current.Replicas)
        {
            text.Append(CultureInfo.InvariantCulture, $"reasoningserve_api_replica_outstanding{{replica=\"{Escape(replica.Id)}\",group=\"{Escape(replica.Group)}\"}} {replica.Outstanding}\n");
        }
        text.Append("# TYPE reasoningserve_api_replica_breaker_open gauge\n");
        foreach (var replica in _registry.Value.Current.Replicas)
        {
            text.Append(CultureInfo.InvariantCulture, $"reasoningserve_api_replica_breaker_open{{replica=\"{Escape(replica.Id)}\",group=\"{Escape(replica.Group)}\"}} {(replica.IsAvailable ? 0 : 1)}\n");
        }
        return text.ToString();
    }

    public void Dispose() => _meter.Dispose();

    private void Count(string name, string labels) => _counts.AddOrUpdate((name, labels), 1, (_, n) => n + 1);

    private IEnumerable<Measurement<int>> Observe(Func<Replica, int> value)
    {
        foreach (var replica in _registry.Value.Current.Replicas)
        {
            yield return new Measurement<int>(value(replica), new KeyValuePair<string, object?>("replica", replica.Id));
        }
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
