namespace ReasoningServe.AppHost.LLM;

/// <summary>
/// One LLM deployment, field for field Ray Serve's <c>LLMConfig</c> (snake_case names in YAML map to these).
/// <c>model_loading_config.model_id</c>/<c>model_source</c> are flattened into <see cref="ModelId"/>/<see cref="ModelSource"/>.
/// </summary>
internal sealed class LLMConfig
{
    /// <summary>The project's default model (issue 4), relative to the repository root.</summary>
    public const string DefaultModelSource = "models/default";

    /// <summary>The name clients put in <c>model</c> (<c>--served-model-name</c>).</summary>
    public required string ModelId { get; init; }

    /// <summary>A model folder (absolute, or relative to the config file, the working directory or the repository root) or a hub id.</summary>
    public string? ModelSource { get; init; }

    /// <summary>Ray's GPU type (<c>A10G</c>, <c>L4</c>, <c>H100</c>…): any value selects CUDA, <c>CPU</c> selects CPU, none lets Inference choose.</summary>
    public string? AcceleratorType { get; init; }

    public DeploymentConfig DeploymentConfig { get; init; } = new();

    public EngineKwargs EngineKwargs { get; init; } = new();

    /// <summary>Ray's <c>runtime_env.env_vars</c>; names that look like secrets (TOKEN, KEY, SECRET, PASSWORD) become secret parameters.</summary>
    public Dictionary<string, string> EnvVars { get; init; } = [];

    /// <summary>Where relative model folders are looked up first: the folder of the YAML file that declared this config.</summary>
    public string? BaseDirectory { get; init; }

    public static LLMConfig Default => new()
    {
        ModelId = "reasoningserve-default",
        ModelSource = DefaultModelSource,
        EngineKwargs = { ReasoningParser = "deepseek_r1" },
    };
}

internal sealed class DeploymentConfig
{
    public AutoscalingConfig Autoscaling { get; init; } = new();
}

/// <summary>Ray Serve's <c>autoscaling_config</c>, with Ray's defaults.</summary>
internal sealed class AutoscalingConfig
{
    public int MinReplicas { get; set; } = 1;

    public int MaxReplicas { get; set; } = 1;

    /// <summary>Replicas at start; defaults to <see cref="MinReplicas"/>.</summary>
    public int? InitialReplicas { get; set; }

    /// <summary>Requests running or waiting per replica above which a replica is added.</summary>
    public double TargetOngoingRequests { get; set; } = 2;

    public TimeSpan UpscaleDelay { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan DownscaleDelay { get; set; } = TimeSpan.FromSeconds(600);

    public int StartReplicas => Math.Clamp(InitialReplicas ?? MinReplicas, MinReplicas, MaxReplicas);
}

/// <summary>The vLLM engine arguments Inference understands, each passed as the vLLM flag of the same name.</summary>
internal sealed class EngineKwargs
{
    public int? TensorParallelSize { get; set; }

    public int? MaxModelLen { get; set; }

    public string? ReasoningParser { get; set; }

    public double? GpuMemoryUtilization { get; set; }

    public int? MaxNumSeqs { get; set; }

    public int? MaxNumBatchedTokens { get; set; }

    public string? LoadFormat { get; set; }

    /// <summary>cpu, cuda or auto; overrides what <see cref="LLMConfig.AcceleratorType"/> implies.</summary>
    public string? Device { get; set; }
}
