using System.Reflection;

namespace ReasoningServe.AppHost.Hosting;

internal static class ProjectResourceBuilderExtensions
{
    public const string OtelServiceNameVariable = "OTEL_SERVICE_NAME";

    public static IResourceBuilder<ProjectResource> AddProject<TProject>(this IDistributedApplicationBuilder builder, string name)
        where TProject : IProjectMetadata, new() =>
        builder.AddProject(new ProjectResource(name, new TProject()));

    /// <summary>A project given by its .csproj path (relative to the AppHost folder), for projects not referenced by the AppHost.</summary>
    public static IResourceBuilder<ProjectResource> AddProject(this IDistributedApplicationBuilder builder, string name, string projectPath) =>
        builder.AddProject(new ProjectResource(name, new ProjectPathMetadata(Path.GetFullPath(projectPath, Projects.AppHostProject.Directory))));

    public static IResourceBuilder<T> AddProject<T>(this IDistributedApplicationBuilder builder, T project) where T : ProjectResource =>
        builder.AddResource(project).WithEnvironment(context => AddProjectDefaults(project, builder.Configuration, context));

    /// <summary>
    /// Publishes the project as an image built from a Dockerfile (Aspire's <c>PublishAsDockerFile</c>; Aspire spells the
    /// paths as <c>c =&gt; c.WithDockerfile(contextPath, dockerfilePath)</c>). <paramref name="contextPath"/> is relative
    /// to the AppHost folder, <paramref name="dockerfilePath"/> to the context; without them, the project's folder and
    /// the <c>Dockerfile</c> in it. A local run still starts the project itself.
    /// </summary>
    public static IResourceBuilder<T> PublishAsDockerFile<T>(this IResourceBuilder<T> builder, string? contextPath = null, string? dockerfilePath = null)
        where T : ProjectResource
    {
        var context = contextPath is null
            ? Path.GetDirectoryName(builder.Resource.Metadata.ProjectPath)!
            : Path.GetFullPath(contextPath, Projects.AppHostProject.Directory);
        builder.Resource.DockerfileBuild = new DockerfileBuildAnnotation(context, Path.GetFullPath(dockerfilePath ?? "Dockerfile", context));
        return builder;
    }

    /// <summary>Adds a build argument to the Dockerfile build that <see cref="PublishAsDockerFile"/> set up.</summary>
    public static IResourceBuilder<T> WithBuildArg<T>(this IResourceBuilder<T> builder, string name, string value) where T : ProjectResource
    {
        var build = builder.Resource.DockerfileBuild
            ?? throw new InvalidOperationException($"Resource '{builder.Resource.Name}' has no Dockerfile build: call PublishAsDockerFile first.");
        build.BuildArgs[name] = value;
        return builder;
    }

    /// <summary>Runs <paramref name="command"/> with <paramref name="args"/> in <paramref name="workingDirectory"/>.</summary>
    public static IResourceBuilder<ExecutableResource> AddExecutable(this IDistributedApplicationBuilder builder, string name, string command,
        string workingDirectory, params string[] args)
    {
        var executable = new ExecutableResource(name, command, workingDirectory);
        return builder.AddResource(executable).WithArgs(args);
    }

    /// <summary>What Aspire gives every project: OTLP settings, its URLs and, when published, HTTP_PORTS.</summary>
    private static void AddProjectDefaults(ProjectResource project, Microsoft.Extensions.Configuration.IConfiguration configuration, EnvironmentCallbackContext context)
    {
        var variables = context.Variables;
        variables["OTEL_DOTNET_EXPERIMENTAL_OTLP_EMIT_EXCEPTION_LOG_ATTRIBUTES"] = new LiteralValue("true");
        variables["OTEL_DOTNET_EXPERIMENTAL_OTLP_EMIT_EVENT_LOG_ATTRIBUTES"] = new LiteralValue("true");
        variables["OTEL_DOTNET_EXPERIMENTAL_OTLP_RETRY"] = new LiteralValue("in_memory");
        var http = project.Endpoints.Find(e => e.Name == "http");
        if (context.ExecutionContext.IsPublishMode)
        {
            if (project.Endpoints.Exists(e => e.IsExternal))
            {
                variables["ASPNETCORE_FORWARDEDHEADERS_ENABLED"] = new LiteralValue("true");
            }
            if (http is not null)
            {
                variables["HTTP_PORTS"] = project.GetEndpoint("http").Property(EndpointProperty.TargetPort);
            }
            return;
        }
        if (http is not null)
        {
            variables["ASPNETCORE_URLS"] = project.GetEndpoint("http").Url;
        }
        variables["LOGGING__CONSOLE__FORMATTERNAME"] = new LiteralValue("simple");
        // Only with a collector to send to; otherwise the exporter would retry into nothing.
        if (configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] is { Length: > 0 } otlpEndpoint)
        {
            variables["OTEL_EXPORTER_OTLP_ENDPOINT"] = new LiteralValue(otlpEndpoint);
            variables["OTEL_EXPORTER_OTLP_PROTOCOL"] = new LiteralValue(configuration["OTEL_EXPORTER_OTLP_PROTOCOL"] ?? "grpc");
        }
        variables[OtelServiceNameVariable] = new LiteralValue(project.Name);
        variables["OTEL_RESOURCE_ATTRIBUTES"] = new ReplicaInstanceAttribute();
    }

    /// <summary>Metadata for a project known only by path: its assembly is where `dotnet build` puts it in our configuration.</summary>
    private sealed class ProjectPathMetadata(string projectPath) : IProjectMetadata
    {
        public string ProjectPath { get; } = projectPath;

        public string TargetPath => Path.Combine(
            Path.GetDirectoryName(ProjectPath)!, "bin",
            typeof(ProjectPathMetadata).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug",
            "net10.0", Path.GetFileNameWithoutExtension(ProjectPath) + ".dll");
    }

    /// <summary><c>service.instance.id</c> tells replicas of one service apart in telemetry.</summary>
    private sealed class ReplicaInstanceAttribute : IValueExpression
    {
        public string ValueExpression => "";

        public bool IsSecret => false;

        public string? GetValue(ValueContext context) =>
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"service.instance.id={context.Owner.Name}-{context.Replica}");
    }
}
