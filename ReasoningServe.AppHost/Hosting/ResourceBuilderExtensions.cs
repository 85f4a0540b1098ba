using System.Globalization;

namespace ReasoningServe.AppHost.Hosting;

/// <summary>The <c>With*</c> and <c>WaitFor</c> calls of Aspire's app model.</summary>
internal static class ResourceBuilderExtensions
{
    public static IResourceBuilder<T> WithEnvironment<T>(this IResourceBuilder<T> builder, string name, string value) where T : Resource =>
        builder.WithEnvironment(name, new LiteralValue(value));

    public static IResourceBuilder<T> WithEnvironment<T>(this IResourceBuilder<T> builder, string name, IValueExpression value) where T : Resource =>
        builder.WithEnvironment(context => context.Variables[name] = value);

    public static IResourceBuilder<T> WithEnvironment<T>(this IResourceBuilder<T> builder, string name, IResourceBuilder<ParameterResource> parameter) where T : Resource =>
        builder.WithEnvironment(name, parameter.Resource);

    public static IResourceBuilder<T> WithEnvironment<T>(this IResourceBuilder<T> builder, Action<EnvironmentCallbackContext> callback) where T : Resource
    {
        builder.Resource.EnvironmentCallbacks.Add(callback);
        return builder;
    }

    public static IResourceBuilder<T> WithArgs<T>(this IResourceBuilder<T> builder, params string[] args) where T : Resource =>
        builder.WithArgs(context => context.Args.AddRange(args.Select(a => (IValueExpression)new LiteralValue(a))));

    public static IResourceBuilder<T> WithArgs<T>(this IResourceBuilder<T> builder, Action<ArgsCallbackContext> callback) where T : Resource
    {
        builder.Resource.ArgsCallbacks.Add(callback);
        return builder;
    }

    public static IResourceBuilder<T> WithHttpEndpoint<T>(this IResourceBuilder<T> builder, int? port = null, int? targetPort = null, string name = "http", bool isExternal = false)
        where T : Resource =>
        builder.WithEndpoint(new EndpointAnnotation(name, "http", port, targetPort, isExternal));

    public static IResourceBuilder<T> WithExternalHttpEndpoints<T>(this IResourceBuilder<T> builder) where T : Resource
    {
        var endpoints = builder.Resource.Endpoints;
        for (var i = 0; i < endpoints.Count; i++)
        {
            if (endpoints[i].Scheme is "http" or "https")
            {
                endpoints[i] = endpoints[i] with { IsExternal = true };
            }
        }
        return builder;
    }

    public static IResourceBuilder<T> WithEndpoint<T>(this IResourceBuilder<T> builder, EndpointAnnotation endpoint) where T : Resource
    {
        var endpoints = builder.Resource.Endpoints;
        var existing = endpoints.FindIndex(e => e.Name == endpoint.Name);
        // Re-declaring an endpoint replaces it, so an app can override a default port (AddOpenAIApp + --port).
        if (existing >= 0)
        {
            endpoints[existing] = endpoint;
        }
        else
        {
            endpoints.Add(endpoint);
        }
        return builder;
    }

    public static IResourceBuilder<T> WithReplicas<T>(this IResourceBuilder<T> builder, int replicas) where T : Resource
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        builder.Resource.Replicas = replicas;
        return builder;
    }

    /// <summary>Local runs add and remove replicas between min and max by ongoing requests (see AutoscalingPolicy); not published.</summary>
    public static IResourceBuilder<T> WithAutoscaling<T>(this IResourceBuilder<T> builder, LLM.AutoscalingConfig autoscaling) where T : Resource
    {
        builder.Resource.Autoscaling = autoscaling;
        return builder;
    }

    public static IResourceBuilder<T> WaitFor<T>(this IResourceBuilder<T> builder, IResourceBuilder<Resource> dependency) where T : Resource
    {
        if (!builder.Resource.WaitsFor.Contains(dependency.Resource))
        {
            builder.Resource.WaitsFor.Add(dependency.Resource);
        }
        return builder;
    }

    /// <summary><c>ConnectionStrings__name</c>: unset locally when the resource could not be provided (Redis stand-in).</summary>
    public static IResourceBuilder<T> WithReference<T, TSource>(this IResourceBuilder<T> builder, IResourceBuilder<TSource> source)
        where T : Resource
        where TSource : Resource, IResourceWithConnectionString =>
        builder.WithEnvironment(context =>
            context.Variables[$"ConnectionStrings__{source.Resource.Name}"] = new ConnectionStringReference(source.Resource));

    /// <summary>
    /// <c>services__name__endpoint__i</c> for every endpoint of a project or executable (service discovery's configuration shape).
    /// Locally every replica slot is listed, started or not, so replicas added by autoscaling need no reconfiguration;
    /// the manifest lists slot 0 only, since the deployment's ingress balances over replicas.
    /// </summary>
    public static IResourceBuilder<T> WithReference<T>(this IResourceBuilder<T> builder, IResourceBuilder<Resource> service) where T : Resource =>
        builder.WithEnvironment(context =>
        {
            var slots = context.ExecutionContext.IsPublishMode ? 1 : service.Resource.MaxReplicas;
            foreach (var endpoint in service.Resource.Endpoints)
            {
                for (var slot = 0; slot < slots; slot++)
                {
                    var key = string.Create(CultureInfo.InvariantCulture, $"services__{service.Resource.Name}__{endpoint.Name}__{slot}");
                    context.Variables[key] = service.Resource.GetEndpoint(endpoint.Name).Property(EndpointProperty.Url, slot);
                }
            }
        });

    public static IResourceBuilder<T> WithHttpHealthCheck<T>(this IResourceBuilder<T> builder, string path = "/health") where T : Resource
    {
        builder.Resource.HealthCheckPath = path;
        return builder;
    }
}
