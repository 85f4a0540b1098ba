namespace ReasoningServe.AppHost.Hosting;

/// <summary>Redis, as Aspire's <c>AddRedis</c> models it: a password-protected container published as <c>container.v0</c>.</summary>
internal sealed class RedisResource : Resource, IResourceWithConnectionString
{
    public const string PrimaryEndpointName = "tcp";
    public const string Image = "docker.io/library/redis";
    public const string Tag = "8.2";
    public const int ContainerPort = 6379;

    public RedisResource(string name, ParameterResource password) : base(name)
    {
        PasswordParameter = password;
        Endpoints.Add(new EndpointAnnotation(PrimaryEndpointName, "tcp", TargetPort: ContainerPort));
    }

    public ParameterResource PasswordParameter { get; }

    public EndpointReference PrimaryEndpoint => GetEndpoint(PrimaryEndpointName);

    /// <summary>StackExchange.Redis syntax, which the Api reads from <c>ConnectionStrings__cache</c>.</summary>
    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        PrimaryEndpoint.Property(EndpointProperty.Host), ":", PrimaryEndpoint.Property(EndpointProperty.Port),
        ",password=", PasswordParameter);
}
