namespace ReasoningServe.AppHost.Hosting;

internal static class RedisBuilderExtensions
{
    /// <summary>Redis with a generated password parameter <c>name-password</c>, as Aspire 9.5's <c>AddRedis</c>.</summary>
    public static IResourceBuilder<RedisResource> AddRedis(this IDistributedApplicationBuilder builder, string name)
    {
        var password = builder.AddGeneratedSecret($"{name}-password");
        return builder.AddResource(new RedisResource(name, password.Resource));
    }
}
