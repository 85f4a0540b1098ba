using System.Globalization;
using ReasoningServe.AppHost.Hosting;

namespace ReasoningServe.AppHost.LLM;

/// <summary>Ray Serve LLM's two builders in app-model form: an LLM deployment, and the OpenAI app in front of them.</summary>
internal static class LLMBuilderExtensions
{
    /// <summary>The port the Api listens on locally unless <c>--port</c> says otherwise (Ray Serve's and vLLM's default).</summary>
    public const int DefaultApiPort = 8000;

    /// <summary>
    /// The port both services listen on inside their containers: what the .NET images' ASPNETCORE_HTTP_PORTS says, what
    /// azd's Container Apps template assumes, and what our Dockerfiles EXPOSE (a test checks they agree).
    /// </summary>
    public const int ContainerHttpPort = 8080;

    /// <summary>The inference image's Dockerfile, relative to its build context (the repository root).</summary>
    public const string InferenceDockerfile = "docker/inference.Dockerfile";

    public static IResourceBuilder<LLMResource> AddLLM(this IDistributedApplicationBuilder builder, LLMConfig config, string name = "inference")
    {
        var autoscaling = config.DeploymentConfig.Autoscaling;
        if (autoscaling.MinReplicas < 1 || autoscaling.MaxReplicas < autoscaling.MinReplicas)
        {
            throw new AppHostConfigurationException(
                $"{name}: autoscaling_config needs 1 <= min_replicas <= max_replicas (got {autoscaling.MinReplicas} and {autoscaling.MaxReplicas}).");
        }
        var llm = builder.AddProject(new LLMResource(name, config))
            .WithHttpEndpoint(targetPort: ContainerHttpPort)
            .WithReplicas(autoscaling.StartReplicas)
            .WithAutoscaling(autoscaling)
            .WithHttpHealthCheck("/health")
            // Published as the CUDA image (a project would get the plain ASP.NET image, without CUDA). The context is
            // the repository root: the build needs ServiceDefaults and the model folder as well as the project.
            .PublishAsDockerFile("..", InferenceDockerfile);
        if (builder.ExecutionContext.IsPublishMode
            && llm.Resource.ResolveImageModel(RepositoryRoot).ModelDirectory is { } modelDirectory
            && modelDirectory != LLMConfig.DefaultModelSource)
        {
            llm.WithBuildArg(LLMResource.ModelDirectoryBuildArg, modelDirectory);
        }
        llm.WithArgs(context => context.Args.AddRange(InferenceArgs(llm.Resource, context.ExecutionContext)));
        foreach (var (variable, value) in config.EnvVars)
        {
            if (LooksSecret(variable))
            {
                var parameter = builder.AddParameter($"{name}-{variable.ToLowerInvariant().Replace('_', '-')}", value, secret: true);
                llm.WithEnvironment(variable, parameter);
            }
            else
            {
                llm.WithEnvironment(variable, value);
            }
        }
        return llm;
    }

    /// <summary>HF_TOKEN, *_API_KEY and the like must not be written to the manifest in clear.</summary>
    internal static bool LooksSecret(string variable) =>
        variable.Contains("TOKEN", StringComparison.OrdinalIgnoreCase) || variable.Contains("KEY", StringComparison.OrdinalIgnoreCase)
        || variable.Contains("SECRET", StringComparison.OrdinalIgnoreCase) || variable.Contains("PASSWORD", StringComparison.OrdinalIgnoreCase);

    /// <summary>The Api (Ray's <c>build_openai_app</c> ingress) routing to <paramref name="llms"/>, on <paramref name="port"/>.</summary>
    public static IResourceBuilder<ProjectResource> AddOpenAIApp(this IDistributedApplicationBuilder builder, string name,
        IEnumerable<IResourceBuilder<LLMResource>> llms, int port = DefaultApiPort)
    {
        // The local port is not published: azd maps an external http binding to the Container App's main ingress,
        // which only serves port 80 (it refuses a manifest whose binding names another port).
        var api = builder.AddProject<Projects.ReasoningServe_Api>(name)
            .WithHttpEndpoint(port: builder.ExecutionContext.IsPublishMode ? null : port, targetPort: ContainerHttpPort, isExternal: true)
            .WithHttpHealthCheck("/health");
        api.WithArgs(context => context.Args.AddRange([new LiteralValue("--port"), api.Resource.GetEndpoint("http").Property(EndpointProperty.TargetPort)]));
        foreach (var llm in llms)
        {
            api.WithReference(llm).WaitFor(llm);
        }
        return api;
    }

    private static string RepositoryRoot => Path.GetDirectoryName(Projects.AppHostProject.Directory)!;

    private static List<IValueExpression> InferenceArgs(LLMResource llm, DistributedApplicationExecutionContext executionContext)
    {
        var config = llm.Config;
        var model = executionContext.IsPublishMode ? llm.ResolveImageModel(RepositoryRoot).ModelArgument : llm.ResolveLocalModel(RepositoryRoot);
        var args = new List<IValueExpression>();
        void Add(string flag, IValueExpression value)
        {
            args.Add(new LiteralValue(flag));
            args.Add(value);
        }
        void AddIf(string flag, object? value)
        {
            if (value is not null)
            {
                Add(flag, new LiteralValue(Convert.ToString(value, CultureInfo.InvariantCulture)!));
            }
        }
        Add("--model", new LiteralValue(model));
        Add("--served-model-name", new LiteralValue(config.ModelId));
        // In a container the replica must accept traffic from the ingress; locally it stays on loopback.
        Add("--host", new LiteralValue(executionContext.IsPublishMode ? "0.0.0.0" : EndpointReferenceExpression.LoopbackHost));
        Add("--port", llm.GetEndpoint("http").Property(EndpointProperty.TargetPort));
        Add("--device", new LiteralValue(llm.Device));
        var engine = config.EngineKwargs;
        AddIf("--tensor-parallel-size", engine.TensorParallelSize);
        AddIf("--max-model-len", engine.MaxModelLen);
        AddIf("--reasoning-parser", engine.ReasoningParser);
        AddIf("--gpu-memory-utilization", engine.GpuMemoryUtilization);
        AddIf("--max-num-seqs", engine.MaxNumSeqs);
        AddIf("--max-num-batched-tokens", engine.MaxNumBatchedTokens);
        AddIf("--load-format", engine.LoadFormat);
        return args;
    }
}
