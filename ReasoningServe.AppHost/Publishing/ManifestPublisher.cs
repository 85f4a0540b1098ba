using System.Text;
using System.Text.Json;
using ReasoningServe.AppHost.Hosting;

namespace ReasoningServe.AppHost.Publishing;

/// <summary>
/// Writes the app model as an Aspire manifest (schema aspire-8.0), the input of <c>azd up</c>: Redis as
/// <c>container.v0</c>, projects as <c>project.v0</c> (or <c>container.v1</c> built from their Dockerfile when they
/// were published as one), secrets as <c>parameter.v0</c> inputs with no values.
/// Replica counts are not part of the format; they are set on the deployment target (see README).
/// </summary>
internal static class ManifestPublisher
{
    public const string SchemaUrl = "https://json.schemastore.org/aspire-8.0.json";

    public static void Write(IReadOnlyList<Resource> resources, DistributedApplicationExecutionContext executionContext, string outputPath)
    {
        var fullPath = Path.GetFullPath(outputPath);
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        File.WriteAllText(fullPath, ToJson(resources, executionContext, Path.GetDirectoryName(fullPath)!));
    }

    /// <param name="manifestDirectory">Project paths are written relative to it, as azd resolves them.</param>
    public static string ToJson(IReadOnlyList<Resource> resources, DistributedApplicationExecutionContext executionContext, string manifestDirectory)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("$schema", SchemaUrl);
            writer.WriteStartObject("resources");
            foreach (var resource in resources)
            {
                switch (resource)
                {
                    case RedisResource redis:
                        writer.WriteStartObject(resource.Name);
                        WriteRedis(writer, redis, executionContext);
                        writer.WriteEndObject();
                        break;
                    case ProjectResource { DockerfileBuild: { } build } project:
                        writer.WriteStartObject(resource.Name);
                        WriteDockerfileContainer(writer, project, build, executionContext, manifestDirectory);
                        writer.WriteEndObject();
                        break;
                    case ProjectResource project:
                        writer.WriteStartObject(resource.Name);
                        WriteProject(writer, project, executionContext, manifestDirectory);
                        writer.WriteEndObject();
                        break;
                    case ParameterResource parameter:
                        writer.WriteStartObject(resource.Name);
                        WriteParameter(writer, parameter);
                        writer.WriteEndObject();
                        break;
                    default:
                        // Executables are local tools; azd has no resource type for them.
                        break;
                }
            }
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    private static void WriteRedis(Utf8JsonWriter writer, RedisResource redis, DistributedApplicationExecutionContext executionContext)
    {
        writer.WriteString("type", "container.v0");
        writer.WriteString("connectionString", redis.ConnectionStringExpression.ValueExpression);
        writer.WriteString("image", $"{RedisResource.Image}:{RedisResource.Tag}");
        writer.WriteString("entrypoint", "/bin/sh");
        writer.WriteStartArray("args");
        writer.WriteStringValue("-c");
        writer.WriteStringValue("redis-server --requirepass $REDIS_PASSWORD --save 60 1");
        writer.WriteEndArray();
        var environment = redis.EvaluateEnvironment(executionContext);
        environment["REDIS_PASSWORD"] = redis.PasswordParameter;
        WriteEnvironment(writer, environment);
        WriteBindings(writer, redis);
    }

    private static void WriteProject(Utf8JsonWriter writer, ProjectResource project, DistributedApplicationExecutionContext executionContext, string manifestDirectory)
    {
        writer.WriteString("type", "project.v0");
        writer.WriteString("path", RelativePath(manifestDirectory, project.Metadata.ProjectPath));
        WriteArgs(writer, project.EvaluateArgs(executionContext));
        WriteEnvironment(writer, project.EvaluateEnvironment(executionContext));
        WriteBindings(writer, project);
    }

    /// <summary>The field order is Aspire's for a built container: type, build, args, env, bindings.</summary>
    private static void WriteDockerfileContainer(Utf8JsonWriter writer, ProjectResource project, DockerfileBuildAnnotation build,
        DistributedApplicationExecutionContext executionContext, string manifestDirectory)
    {
        writer.WriteString("type", "container.v1");
        writer.WriteStartObject("build");
        writer.WriteString("context", RelativePath(manifestDirectory, build.ContextPath));
        writer.WriteString("dockerfile", RelativePath(manifestDirectory, build.DockerfilePath));
        if (build.BuildArgs.Count > 0)
        {
            writer.WriteStartObject("args");
            foreach (var (name, value) in build.BuildArgs)
            {
                writer.WriteString(name, value);
            }
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
        WriteArgs(writer, project.EvaluateArgs(executionContext));
        WriteEnvironment(writer, project.EvaluateEnvironment(executionContext));
        WriteBindings(writer, project);
    }

    /// <summary>Relative to the manifest's folder with '/' separators, as azd resolves paths; the folder itself is ".".</summary>
    private static string RelativePath(string manifestDirectory, string path) =>
        Path.GetRelativePath(manifestDirectory, path).Replace('\\', '/');

    private static void WriteArgs(Utf8JsonWriter writer, List<IValueExpression> args)
    {
        if (args.Count == 0)
        {
            return;
        }
        writer.WriteStartArray("args");
        foreach (var arg in args)
        {
            writer.WriteStringValue(ManifestValue(arg));
        }
        writer.WriteEndArray();
    }

    private static void WriteParameter(Utf8JsonWriter writer, ParameterResource parameter)
    {
        writer.WriteString("type", "parameter.v0");
        writer.WriteString("value", $"{{{parameter.Name}.inputs.value}}");
        writer.WriteStartObject("inputs");
        writer.WriteStartObject("value");
        writer.WriteString("type", "string");
        if (parameter.Secret)
        {
            writer.WriteBoolean("secret", true);
        }
        if (parameter.GeneratedMinLength is int length)
        {
            writer.WriteStartObject("default");
            writer.WriteStartObject("generate");
            writer.WriteNumber("minLength", length);
            writer.WriteBoolean("special", false);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static void WriteEnvironment(Utf8JsonWriter writer, Dictionary<string, IValueExpression> environment)
    {
        if (environment.Count == 0)
        {
            return;
        }
        writer.WriteStartObject("env");
        foreach (var (name, value) in environment)
        {
            writer.WriteString(name, ManifestValue(value));
        }
        writer.WriteEndObject();
    }

    private static void WriteBindings(Utf8JsonWriter writer, Resource resource)
    {
        if (resource.Endpoints.Count == 0)
        {
            return;
        }
        writer.WriteStartObject("bindings");
        foreach (var endpoint in resource.Endpoints)
        {
            writer.WriteStartObject(endpoint.Name);
            writer.WriteString("scheme", endpoint.Scheme);
            writer.WriteString("protocol", "tcp");
            writer.WriteString("transport", endpoint.Transport);
            if (endpoint.Port is int port)
            {
                writer.WriteNumber("port", port);
            }
            if (endpoint.TargetPort is int targetPort)
            {
                writer.WriteNumber("targetPort", targetPort);
            }
            if (endpoint.IsExternal)
            {
                writer.WriteBoolean("external", true);
            }
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
    }

    /// <summary>
    /// Literal text is escaped for the expression syntax (a literal brace is doubled); a secret can only appear
    /// as the expression that names it, never its value.
    /// </summary>
    private static string ManifestValue(IValueExpression value) => value switch
    {
        LiteralValue literal => literal.Value.Replace("{", "{{").Replace("}", "}}"),
        _ => value.ValueExpression,
    };
}
