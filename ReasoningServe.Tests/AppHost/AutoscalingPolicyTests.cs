using ReasoningServe.AppHost.LLM;
using ReasoningServe.AppHost.Orchestration;

namespace ReasoningServe.Tests.AppHost;

public sealed class AutoscalingPolicyTests
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static AutoscalingPolicy Policy() => new(new AutoscalingConfig
    {
        MinReplicas = 1,
        MaxReplicas = 3,
        TargetOngoingRequests = 2,
        UpscaleDelay = TimeSpan.FromSeconds(30),
        DownscaleDelay = TimeSpan.FromSeconds(600),
    });

    [Fact]
    public void Scales_up_to_ceil_of_ongoing_over_target_once_the_upscale_delay_has_passed()
    {
        var policy = Policy();

        Assert.Equal(1, policy.Decide(T0, 1, 5));
        Assert.Equal(1, policy.Decide(T0.AddSeconds(29), 1, 5));
        Assert.Equal(3, policy.Decide(T0.AddSeconds(30), 1, 5));
    }

    [Fact]
    public void Never_leaves_the_min_max_range()
    {
        var policy = Policy();

        Assert.Equal(1, policy.Decide(T0, 1, 0));
        policy.Decide(T0, 1, 100);
        Assert.Equal(3, policy.Decide(T0.AddSeconds(30), 1, 100));
    }

    [Fact]
    public void A_dip_in_load_restarts_the_upscale_delay()
    {
        var policy = Policy();

        policy.Decide(T0, 1, 5);
        Assert.Equal(1, policy.Decide(T0.AddSeconds(20), 1, 1));
        Assert.Equal(1, policy.Decide(T0.AddSeconds(40), 1, 5));
        Assert.Equal(3, policy.Decide(T0.AddSeconds(70), 1, 5));
    }

    [Fact]
    public void Scales_down_only_after_the_load_stayed_low_for_the_downscale_delay()
    {
        var policy = Policy();

        Assert.Equal(3, policy.Decide(T0, 3, 0));
        Assert.Equal(3, policy.Decide(T0.AddSeconds(599), 3, 1));
        Assert.Equal(1, policy.Decide(T0.AddSeconds(600), 3, 1));
    }
}
