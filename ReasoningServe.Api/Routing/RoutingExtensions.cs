using ReasoningServe.Api.Proxy;
using ReasoningServe.Api.Resilience;
using ReasoningServe.Api.Telemetry;

namespace ReasoningServe.Api.Routing;

/// <summary>Registers everything that turns a request into "this replica": registry, prefix index, affinity, proxy.</summary>
internal static class RoutingExtensions
{
    public static WebApplicationBuilder AddReplicaRouting(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<FrontMetrics>();
        services.AddSingleton<UpstreamClient>();
        services.AddSingleton<ResiliencePipelines>();
        services.AddSingleton<ReplicaRegistry>();
        services.AddHostedService<ReplicaRegistryRefresher>();
        services.AddSingleton<PrefixIndex>();
        services.AddSingleton<PrefixAffinity>();
        services.AddSingleton<OpenAIProxy>();
        services.AddHealthChecks().AddCheck<ReplicasHealthCheck>("replicas");
        return builder;
    }
}
