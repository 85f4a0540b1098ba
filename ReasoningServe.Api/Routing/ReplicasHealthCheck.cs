using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ReasoningServe.Api.Routing;

/// <summary>Degraded (still 200) while no replica serves a model: the front itself is up and will route once one does.</summary>
internal sealed class ReplicasHealthCheck(ReplicaRegistry registry) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var snapshot = registry.Current;
        var available = snapshot.Replicas.Count(r => r.IsAvailable && r.ModelsKnown);
        return Task.FromResult(available > 0
            ? HealthCheckResult.Healthy($"{available} of {snapshot.Replicas.Count} replicas available")
            : HealthCheckResult.Degraded($"no available replica among {snapshot.Replicas.Count}"));
    }
}
