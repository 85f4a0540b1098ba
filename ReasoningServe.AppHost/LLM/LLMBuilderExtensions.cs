using System.Globalization;
using ReasoningServe.AppHost.Hosting;

namespace ReasoningServe.AppHost.LLM;

/// <summary>Ray Serve LLM's two builders in app-model form: an LLM deployment, and the OpenAI app in front of them.</summary>
internal static class LLMBuilderExtensions
{
    /// <summary>Port the Api listens on inside its container, and locally unless <c>--port</c> says otherwise.</summary>
    public const int DefaultApiPort = 8000;

    /// <summary>The port Inference listens on inside its container (our Dockerfile's EXPOSE).</summary>
    public const int InferenceContainerPort = 8000;

    public static IResourceBuilder<LLMResource> AddLLM(this IDistributedApplicationBuilder builder, LLMConfig config, string name = "inference")
    {
        var autoscaling = config.DeploymentConfig.Autoscaling;
        if (autoscaling.MinReplicas < 1 || autoscaling.MaxReplicas < autoscaling.MinReplicas)
        {
            throw new AppHostConfigurationException(
                $"{name}: autoscaling_config needs 1 <= min_replicas <= max_replicas (got {autoscaling.MinReplicas} and {autoscaling.MaxReplicas}).");
        }
        var llm = builder.AddProject(new LLMResource(name, config))
            .WithHttpEndpoint(targetPort: InferenceContainerPort)
            .WithReplicas(autoscaling.StartReplicas)
            .WithAutoscaling(autoscaling)
            .WithHttpHealthCheck("/health");
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
        var api = builder.AddProject<Projects.ReasoningServe_Api>(name)
            .WithHttpEndpoint(port: port, targetPort: DefaultApiPort, isExternal: true)
            .WithHttpHealthCheck("/health");
        api.WithArgs(context => context.Args.AddRange([new LiteralValue("--port"), api.Resource.GetEndpoint("http").Property(EndpointProperty.TargetPort)]));
        foreach (var llm in llms)
        {
            api.WithReference(llm).WaitFor(llm);
        }
        return api;
    }

    private static List<IValueExpression> InferenceArgs(LLMResource llm, DistributedApplicationExecutionContext executionContext)
    {
        var config = llm.Config;
        var repositoryRoot = Path.GetDirectoryName(Projects.AppHostProject.Directory)!;
        var model = executionContext.IsPublishMode ? config.ModelSource ?? config.ModelId : llm.ResolveLocalModel(repositoryRoot);
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
