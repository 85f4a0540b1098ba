namespace ReasoningServe.AppHost.Hosting;

/// <summary>Fluent handle on a resource being added to the app model (Aspire's <c>IResourceBuilder&lt;T&gt;</c>).</summary>
internal interface IResourceBuilder<out T> where T : Resource
{
    IDistributedApplicationBuilder ApplicationBuilder { get; }

    T Resource { get; }
}

internal sealed class ResourceBuilder<T>(IDistributedApplicationBuilder applicationBuilder, T resource) : IResourceBuilder<T>
    where T : Resource
{
    public IDistributedApplicationBuilder ApplicationBuilder { get; } = applicationBuilder;

    public T Resource { get; } = resource;
}
