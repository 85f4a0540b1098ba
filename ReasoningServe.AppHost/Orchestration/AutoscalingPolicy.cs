using ReasoningServe.AppHost.LLM;

namespace ReasoningServe.AppHost.Orchestration;

/// <summary>
/// Ray Serve's rule, simply: the desired replica count is ceil(ongoing requests / target_ongoing_requests) within
/// [min, max]; it takes effect once it has wanted more replicas for upscale_delay_s, or fewer for downscale_delay_s.
/// Time is passed in, so the decision is a pure function of what was observed when.
/// </summary>
internal sealed class AutoscalingPolicy(AutoscalingConfig config)
{
    private DateTimeOffset? _wantedMoreSince;
    private DateTimeOffset? _wantedFewerSince;

    public int Decide(DateTimeOffset now, int currentReplicas, double ongoingRequests)
    {
        var desired = Math.Clamp((int)Math.Ceiling(ongoingRequests / config.TargetOngoingRequests), config.MinReplicas, config.MaxReplicas);
        if (desired > currentReplicas)
        {
            _wantedFewerSince = null;
            _wantedMoreSince ??= now;
            return now - _wantedMoreSince >= config.UpscaleDelay ? Apply(desired) : currentReplicas;
        }
        if (desired < currentReplicas)
        {
            _wantedMoreSince = null;
            _wantedFewerSince ??= now;
            return now - _wantedFewerSince >= config.DownscaleDelay ? Apply(desired) : currentReplicas;
        }
        _wantedMoreSince = _wantedFewerSince = null;
        return currentReplicas;
    }

    private int Apply(int desired)
    {
        _wantedMoreSince = _wantedFewerSince = null;
        return desired;
    }
}
