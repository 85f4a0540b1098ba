using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.RateLimiting;
using Polly.Retry;
using Polly.Timeout;
using ReasoningServe.Api.Options;
using ReasoningServe.Api.Proxy;
using ReasoningServe.Api.Routing;
using ReasoningServe.Api.Telemetry;

namespace ReasoningServe.Api.Resilience;

/// <summary>
/// Every Polly pipeline of the front, configured in one place:
/// <list type="bullet">
/// <item>overall: a timeout around the whole request, streaming included (<see cref="ResilienceOptions.OverallTimeout"/>);</item>
/// <item>retry: a failed attempt is repeated on another replica — connection failures, attempt timeouts, 502/503/504 —
/// and only until response headers arrived, i.e. before anything was sent to the client;</item>
/// <item>per replica: a circuit breaker around an attempt timeout; an open breaker takes the replica out of routing
/// until its /health answers 200;</item>
/// <item>rate limiting: a token bucket per API key (per client address when the front has no keys).</item>
/// </list>
/// Hedging is deliberately absent: a hedged generation runs on two GPUs and one result is thrown away.
/// </summary>
internal sealed class ResiliencePipelines : IDisposable
{
    /// <summary>Set per request: how long one attempt may take (streaming and non-streaming requests differ).</summary>
    public static readonly ResiliencePropertyKey<TimeSpan> AttemptTimeoutKey = new("reasoningserve.attempt-timeout");
    public static readonly ResiliencePropertyKey<string> RateLimitPartitionKey = new("reasoningserve.rate-limit-partition");

    // Long enough that Polly never half-opens on its own: our /health prober closes the breaker instead.
    private static readonly TimeSpan BreakUntilProbed = TimeSpan.FromHours(12);

    private readonly ResilienceOptions _options;
    private readonly UpstreamClient _upstream;
    private readonly FrontMetrics _metrics;
    private readonly ILogger<ResiliencePipelines> _logger;
    private readonly CancellationToken _stopping;
    private readonly PartitionedRateLimiter<string>? _limiter;

    public ResiliencePipelines(IOptions<FrontOptions> options, UpstreamClient upstream, FrontMetrics metrics,
        IHostApplicationLifetime lifetime, ILogger<ResiliencePipelines> logger)
    {
        _options = options.Value.Resilience;
        _upstream = upstream;
        _metrics = metrics;
        _logger = logger;
        _stopping = lifetime.ApplicationStopping;

        Overall = new ResiliencePipelineBuilder().AddTimeout(_options.OverallTimeout).Build();
        Retry = BuildRetry();

        var rate = options.Value.RateLimit;
        if (rate.PermitsPerSecond > 0)
        {
            _limiter = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(key, _ =>
                new TokenBucketRateLimiterOptions
                {
                    TokenLimit = Math.Max(1, rate.Burst),
                    TokensPerPeriod = Math.Max(1, (int)Math.Ceiling(rate.PermitsPerSecond / 10)),
                    ReplenishmentPeriod = TimeSpan.FromSeconds(Math.Max(1, (int)Math.Ceiling(rate.PermitsPerSecond / 10)) / rate.PermitsPerSecond),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                }));
            RateLimit = new ResiliencePipelineBuilder()
                .AddRateLimiter(new RateLimiterStrategyOptions
                {
                    RateLimiter = args => _limiter.AcquireAsync(
                        args.Context.Properties.GetValue(RateLimitPartitionKey, ""), 1, args.Context.CancellationToken),
                    OnRejected = _ =>
                    {
                        _metrics.RateLimited();
                        return default;
                    },
                })
                .Build();
        }
    }

    /// <summary>Around the whole proxied request, relay included.</summary>
    public ResiliencePipeline Overall { get; }

    /// <summary>Around choosing a replica and getting its response headers.</summary>
    public ResiliencePipeline<HttpResponseMessage> Retry { get; }

    /// <summary>Admission per API key; <see cref="ResiliencePipeline.Empty"/> when rate limiting is off.</summary>
    public ResiliencePipeline RateLimit { get; } = ResiliencePipeline.Empty;

    public TimeSpan AttemptTimeout(bool stream) =>
        stream ? _options.AttemptTimeout : _options.NonStreamingAttemptTimeout ?? _options.OverallTimeout;

    /// <summary>Whether an attempt's outcome means "try another replica" (and counts against this one's breaker).</summary>
    public static bool IsTransientFailure(Outcome<HttpResponseMessage> outcome) => outcome switch
    {
        { Exception: HttpRequestException or TimeoutRejectedException or BrokenCircuitException } => true,
        { Result.StatusCode: HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout } => true,
        _ => false,
    };

    public void AttachBreaker(Replica replica)
    {
        var breaker = _options.Breaker;
        replica.Pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                FailureRatio = breaker.FailureRatio,
                MinimumThroughput = Math.Max(2, breaker.MinimumThroughput),
                SamplingDuration = breaker.SamplingDuration,
                BreakDuration = BreakUntilProbed,
                StateProvider = replica.BreakerState,
                ManualControl = replica.BreakerControl,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is not BrokenCircuitException && IsTransientFailure(args.Outcome)),
                OnOpened = opened =>
                {
                    _logger.LogWarning("Replica {Replica} failing: breaker open, probing {Path} until it recovers", replica.Id, "/health");
                    _metrics.BreakerChanged(replica, "open");
                    _ = Task.Run(() => ProbeUntilHealthyAsync(replica));
                    return default;
                },
                OnClosed = _ =>
                {
                    _logger.LogInformation("Replica {Replica} healthy again: breaker closed", replica.Id);
                    _metrics.BreakerChanged(replica, "closed");
                    return default;
                },
            })
            .AddTimeout(new TimeoutStrategyOptions
            {
                TimeoutGenerator = args => ValueTask.FromResult(args.Context.Properties.GetValue(AttemptTimeoutKey, _options.AttemptTimeout)),
            })
            .Build();
    }

    private ResiliencePipeline<HttpResponseMessage> BuildRetry()
    {
        if (_options.MaxRetries <= 0)
        {
            return ResiliencePipeline<HttpResponseMessage>.Empty;
        }
        return new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = _options.MaxRetries,
                // The next attempt goes to a different replica, so there is nothing to wait for.
                Delay = TimeSpan.Zero,
                BackoffType = DelayBackoffType.Constant,
                ShouldHandle = args => ValueTask.FromResult(
                    !args.Context.CancellationToken.IsCancellationRequested && IsTransientFailure(args.Outcome)),
                OnRetry = args =>
                {
                    _metrics.Retried(args.Context.OperationKey ?? "", Reason(args.Outcome));
                    return default;
                },
            })
            .Build();
    }

    private static string Reason(Outcome<HttpResponseMessage> outcome) => outcome switch
    {
        { Exception: TimeoutRejectedException } => "timeout",
        { Exception: BrokenCircuitException } => "breaker_open",
        { Exception: not null } => "connection",
        { Result: { } response } => ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => "unknown",
    };

    private async Task ProbeUntilHealthyAsync(Replica replica)
    {
        if (!replica.TryStartProbing())
        {
            return;
        }
        try
        {
            while (!_stopping.IsCancellationRequested && !replica.Removed)
            {
                await Task.Delay(_options.Breaker.ProbeInterval, _stopping);
                if (await IsHealthyAsync(replica))
                {
                    await replica.BreakerControl.CloseAsync(_stopping);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        finally
        {
            replica.StopProbing();
        }
    }

    private async Task<bool> IsHealthyAsync(Replica replica)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            using var request = _upstream.NewRequest(HttpMethod.Get, replica, "health");
            using var response = await _upstream.Probes.SendAsync(request, timeout.Token);
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !_stopping.IsCancellationRequested)
        {
            return false;
        }
    }

    public void Dispose() => _limiter?.Dispose();
}
