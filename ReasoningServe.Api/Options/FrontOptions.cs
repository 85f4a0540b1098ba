namespace ReasoningServe.Api.Options;

/// <summary>
/// Everything the front can be told, bound from the "Api" configuration section (appsettings, environment
/// <c>Api__...</c>, or the flags in <see cref="FrontCommandLine"/>). Defaults are documented in ReasoningServe.Api/README.md.
/// </summary>
internal sealed class FrontOptions
{
    public const string Section = "Api";

    /// <summary>Bearer keys clients must present; none means the front is open.</summary>
    public List<string> ApiKey { get; set; } = [];

    /// <summary>Key sent to the inference replicas when they were started with their own --api-key.</summary>
    public string? UpstreamApiKey { get; set; }

    public RoutingOptions Routing { get; set; } = new();
    public AffinityOptions Affinity { get; set; } = new();
    public ResilienceOptions Resilience { get; set; } = new();
    public RateLimitOptions RateLimit { get; set; } = new();
}

internal sealed class RoutingOptions
{
    /// <summary>How often the replica list is re-read from configuration and each replica's /v1/models asked again.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Limit for one /v1/models or /health probe of a replica.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);
}

internal sealed class AffinityOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Prompts are indexed in blocks of this many characters (the text analogue of a KV block).</summary>
    public int BlockChars { get; set; } = 128;

    /// <summary>A shared prefix shorter than this is not worth following (it is cheap to prefill anywhere).</summary>
    public int MinMatchChars { get; set; } = 256;

    /// <summary>Only the first this-many characters of a prompt are indexed, which bounds work and index size per request.</summary>
    public int MaxIndexedChars { get; set; } = 16384;

    /// <summary>
    /// The replica holding the prefix is used unless its outstanding requests exceed the least loaded candidate's by
    /// more than this; then the KV-cache win is smaller than the queueing loss and load balancing decides.
    /// </summary>
    public int MaxQueueGap { get; set; } = 8;

    /// <summary>How long an index entry lives after it was last written (engine caches evict old prefixes too).</summary>
    public TimeSpan EntryTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Bound of the in-process index (used without Redis and while Redis is down); least recently used go first.</summary>
    public int MaxLocalEntries { get; set; } = 100_000;

    /// <summary>A Redis lookup slower than this is abandoned for the local index, so Redis never slows a request much.</summary>
    public TimeSpan RedisTimeout { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Prefix of the Redis keys, so several deployments can share one Redis.</summary>
    public string RedisKeyPrefix { get; set; } = "rs:affinity:";
}

internal sealed class ResilienceOptions
{
    /// <summary>Whole request, streaming included; generous because reasoning models think for minutes.</summary>
    public TimeSpan OverallTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// One attempt of a streaming request, until the replica's response headers arrive. Non-streaming requests send
    /// their headers only when generation is done, so they are bounded by <see cref="NonStreamingAttemptTimeout"/>.
    /// </summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>One attempt of a non-streaming request (the whole generation); defaults to the overall timeout.</summary>
    public TimeSpan? NonStreamingAttemptTimeout { get; set; }

    /// <summary>TCP connect limit for a replica; a dead host fails fast and the request moves on.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Further attempts, each on a replica not tried yet, before anything reached the client.</summary>
    public int MaxRetries { get; set; } = 2;

    public BreakerOptions Breaker { get; set; } = new();
}

internal sealed class BreakerOptions
{
    public double FailureRatio { get; set; } = 0.5;
    public int MinimumThroughput { get; set; } = 3;
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often an open replica's /health is probed; the first 200 closes its breaker.</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(2);
}

internal sealed class RateLimitOptions
{
    /// <summary>Sustained requests per second allowed per API key (per client address without keys); 0 disables.</summary>
    public double PermitsPerSecond { get; set; } = 100;

    /// <summary>Requests a key may make at once above the sustained rate.</summary>
    public int Burst { get; set; } = 200;
}
