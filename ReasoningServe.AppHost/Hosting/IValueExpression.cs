namespace ReasoningServe.AppHost.Hosting;

/// <summary>
/// A value that has two forms: the manifest expression a deployment tool resolves (<c>{cache.bindings.tcp.port}</c>)
/// and the concrete value of a local run.
/// </summary>
internal interface IValueExpression
{
    string ValueExpression { get; }

    /// <summary>The local value, or null when it does not exist in this run (the variable is then not set).</summary>
    string? GetValue(ValueContext context);

    /// <summary>True when the value is or contains a secret: it is masked in logs and never written out.</summary>
    bool IsSecret { get; }
}

/// <summary>What a value needs to resolve locally: the run's allocated ports and the replica asking.</summary>
internal sealed record ValueContext(ILocalEndpoints Endpoints, Resource Owner, int Replica);

internal interface ILocalEndpoints
{
    /// <summary>The loopback port of <paramref name="endpointName"/> on replica slot <paramref name="slot"/>; null when the resource is not available.</summary>
    int? GetPort(Resource resource, string endpointName, int slot);
}

internal sealed record LiteralValue(string Value) : IValueExpression
{
    public string ValueExpression => Value;

    public string? GetValue(ValueContext context) => Value;

    public bool IsSecret => false;
}
