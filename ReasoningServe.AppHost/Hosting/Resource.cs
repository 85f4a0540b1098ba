namespace ReasoningServe.AppHost.Hosting;

/// <summary>A node of the app model: something that runs (a process, a container) or is supplied (a parameter).</summary>
internal abstract class Resource(string name)
{
    public string Name { get; } = name;

    public List<EndpointAnnotation> Endpoints { get; } = [];

    public List<Action<ArgsCallbackContext>> ArgsCallbacks { get; } = [];

    public List<Action<EnvironmentCallbackContext>> EnvironmentCallbacks { get; } = [];

    /// <summary>Resources that must be healthy before this one starts (<c>WaitFor</c>).</summary>
    public List<Resource> WaitsFor { get; } = [];

    public int Replicas { get; set; } = 1;

    /// <summary>Path of the <c>http</c> endpoint polled until it answers 2xx (readiness); null: healthy once started.</summary>
    public string? HealthCheckPath { get; set; }

    /// <summary>Ray Serve's autoscaling rule for a local run; null: a fixed replica count.</summary>
    public LLM.AutoscalingConfig? Autoscaling { get; set; }

    /// <summary>Port slots to reserve locally: replicas that autoscaling may add get their endpoint up front.</summary>
    public int MaxReplicas => Math.Max(Replicas, Autoscaling?.MaxReplicas ?? 0);

    public EndpointAnnotation GetEndpointAnnotation(string endpointName) =>
        Endpoints.Find(e => e.Name == endpointName)
        ?? throw new InvalidOperationException($"Resource '{Name}' has no endpoint named '{endpointName}'.");

    public EndpointReference GetEndpoint(string endpointName) => new(this, endpointName);

    public List<IValueExpression> EvaluateArgs(DistributedApplicationExecutionContext executionContext)
    {
        var context = new ArgsCallbackContext(executionContext);
        foreach (var callback in ArgsCallbacks)
        {
            callback(context);
        }
        return context.Args;
    }

    public Dictionary<string, IValueExpression> EvaluateEnvironment(DistributedApplicationExecutionContext executionContext)
    {
        var context = new EnvironmentCallbackContext(executionContext);
        foreach (var callback in EnvironmentCallbacks)
        {
            callback(context);
        }
        return context.Variables;
    }
}

internal sealed class ArgsCallbackContext(DistributedApplicationExecutionContext executionContext)
{
    public DistributedApplicationExecutionContext ExecutionContext { get; } = executionContext;

    public List<IValueExpression> Args { get; } = [];
}

internal sealed class EnvironmentCallbackContext(DistributedApplicationExecutionContext executionContext)
{
    public DistributedApplicationExecutionContext ExecutionContext { get; } = executionContext;

    /// <summary>Insertion-ordered so the manifest lists variables in the order the app model added them.</summary>
    public Dictionary<string, IValueExpression> Variables { get; } = [];
}

/// <summary>A resource that other resources reach through a connection string (<c>ConnectionStrings__name</c>).</summary>
internal interface IResourceWithConnectionString
{
    string Name { get; }

    ReferenceExpression ConnectionStringExpression { get; }
}
