using ReasoningServe.AppHost.Hosting;

namespace ReasoningServe.AppHost.Orchestration;

/// <summary>A resource while it runs locally: its processes, state and endpoints.</summary>
internal abstract class ResourceRuntime(Resource resource)
{
    public Resource Resource { get; } = resource;

    public abstract string Kind { get; }

    public abstract string State { get; }

    public abstract IEnumerable<string> DescribeEndpoints();

    /// <summary>Completes once the resource is ready for the resources that wait for it.</summary>
    public abstract Task WhenHealthy { get; }

    public abstract void Start();

    public abstract Task StopAsync(TimeSpan gracePeriod);
}
