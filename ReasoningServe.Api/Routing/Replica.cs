using System.Text.Json;
using Polly;
using Polly.CircuitBreaker;

namespace ReasoningServe.Api.Routing;

/// <summary>
/// One inference server: where it is, which models it said it serves, how many requests the front has in flight on it,
/// and its circuit breaker. The same object lives across registry refreshes so counters and breaker state survive.
/// </summary>
internal sealed class Replica
{
    private int _outstanding;

    public Replica(string group, Uri baseAddress)
    {
        Group = group;
        BaseAddress = baseAddress;
        Id = baseAddress.GetLeftPart(UriPartial.Authority);
    }

    public string Group { get; }
    public Uri BaseAddress { get; }

    /// <summary>Stable name shared by every front instance (the prefix index stores it), e.g. http://10.0.0.5:8000.</summary>
    public string Id { get; }

    /// <summary>Model cards from the replica's last successful /v1/models, by model id.</summary>
    public IReadOnlyDictionary<string, JsonElement> Models { get; set; } = new Dictionary<string, JsonElement>();

    public bool ModelsKnown { get; set; }

    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>Breaker, then attempt timeout: built by <see cref="Resilience.ResiliencePipelines"/>.</summary>
    public ResiliencePipeline<HttpResponseMessage> Pipeline { get; set; } = ResiliencePipeline<HttpResponseMessage>.Empty;

    public CircuitBreakerStateProvider BreakerState { get; } = new();
    public CircuitBreakerManualControl BreakerControl { get; } = new();

    /// <summary>Open breakers are skipped until the /health probe closes them again.</summary>
    public bool IsAvailable => BreakerState.CircuitState == CircuitState.Closed;

    /// <summary>Set when the replica left the configuration, so its /health prober stops.</summary>
    public bool Removed { get; set; }

    private int _probing;

    public bool TryStartProbing() => Interlocked.Exchange(ref _probing, 1) == 0;

    public void StopProbing() => Volatile.Write(ref _probing, 0);

    public Lease Acquire()
    {
        Interlocked.Increment(ref _outstanding);
        return new Lease(this);
    }

    public override string ToString() => Id;

    /// <summary>Counts a request as outstanding until disposed (after the last byte was relayed, or on failure).</summary>
    public sealed class Lease(Replica replica) : IDisposable
    {
        private int _released;

        public Replica Replica => replica;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                Interlocked.Decrement(ref replica._outstanding);
            }
        }
    }
}
