namespace ReasoningServe.AppHost.Hosting;

internal enum EndpointProperty
{
    Url,
    Host,
    Port,
    TargetPort,
}

/// <summary>An endpoint of a resource, as other resources refer to it.</summary>
internal sealed class EndpointReference(Resource resource, string endpointName)
{
    public Resource Resource { get; } = resource;

    public string EndpointName { get; } = endpointName;

    public EndpointAnnotation Annotation => Resource.GetEndpointAnnotation(EndpointName);

    public EndpointReferenceExpression Property(EndpointProperty property, int? slot = null) => new(this, property, slot);

    public EndpointReferenceExpression Url => Property(EndpointProperty.Url);
}

/// <summary>
/// One property of an endpoint. Locally a resource referring to its own endpoint gets its own replica's port;
/// others get <paramref name="slot"/> (default 0), which is how <c>services__name__http__i</c> enumerates replicas.
/// </summary>
internal sealed class EndpointReferenceExpression(EndpointReference endpoint, EndpointProperty property, int? slot) : IValueExpression
{
    public const string LoopbackHost = "127.0.0.1";

    public EndpointReference Endpoint { get; } = endpoint;

    public EndpointProperty Property { get; } = property;

    public string ValueExpression => "{" + Endpoint.Resource.Name + ".bindings." + Endpoint.EndpointName + "." + Property switch
    {
        EndpointProperty.Url => "url",
        EndpointProperty.Host => "host",
        EndpointProperty.Port => "port",
        _ => "targetPort",
    } + "}";

    public bool IsSecret => false;

    public string? GetValue(ValueContext context)
    {
        var replica = slot ?? (ReferenceEquals(context.Owner, Endpoint.Resource) ? context.Replica : 0);
        if (context.Endpoints.GetPort(Endpoint.Resource, Endpoint.EndpointName, replica) is not int port)
        {
            return null;
        }
        return Property switch
        {
            EndpointProperty.Url => $"{Endpoint.Annotation.Scheme}://{LoopbackHost}:{port}",
            EndpointProperty.Host => LoopbackHost,
            _ => port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
    }
}
