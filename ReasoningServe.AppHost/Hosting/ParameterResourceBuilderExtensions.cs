namespace ReasoningServe.AppHost.Hosting;

internal static class ParameterResourceBuilderExtensions
{
    /// <summary>A value read from configuration <c>Parameters:name</c>; secret ones are masked and never published.</summary>
    public static IResourceBuilder<ParameterResource> AddParameter(this IDistributedApplicationBuilder builder, string name, bool secret = false) =>
        builder.AddResource(new ParameterResource(name, builder.Configuration, secret, generatedMinLength: null));

    /// <summary>A parameter whose local value, unless configured, is <paramref name="value"/>; a deployment asks for it.</summary>
    public static IResourceBuilder<ParameterResource> AddParameter(this IDistributedApplicationBuilder builder, string name, string value, bool secret) =>
        builder.AddResource(new ParameterResource(name, builder.Configuration, secret, generatedMinLength: null, defaultValue: value));

    /// <summary>A secret generated when not configured (Aspire's default passwords: 22 letters and digits).</summary>
    public static IResourceBuilder<ParameterResource> AddGeneratedSecret(this IDistributedApplicationBuilder builder, string name, int minLength = 22) =>
        builder.AddResource(new ParameterResource(name, builder.Configuration, secret: true, generatedMinLength: minLength));
}
