namespace ReasoningServe.Inference.Serving;

/// <summary>
/// The server's settings, bound from configuration section "Inference" (appsettings, environment such as
/// Inference__Model, and the vLLM-style command line mapped by <see cref="CommandLine"/>). Names follow vLLM's flags.
/// </summary>
internal sealed class ServerOptions
{
    public const string Section = "Inference";

    /// <summary>Hugging Face model folder.</summary>
    public string? Model { get; set; }
    /// <summary>Names the API answers to; the first is reported by /v1/models. Defaults to <see cref="Model"/>.</summary>
    public List<string> ServedModelName { get; set; } = [];
    public string Host { get; set; } = "127.0.0.1";
    public int Port { get; set; } = 8000;
    /// <summary>cpu, cuda or auto (auto: CUDA when a GPU and its libraries are found, else CPU with a warning).</summary>
    public string Device { get; set; } = "auto";
    /// <summary>Context length; defaults to the model's max_position_embeddings.</summary>
    public int? MaxModelLen { get; set; }
    public string? ReasoningParser { get; set; }
    /// <summary>Where reasoning goes in responses: reasoning_content, reasoning or both.</summary>
    public string ReasoningField { get; set; } = "both";
    /// <summary>Accepted bearer keys; empty means no authentication. VLLM_API_KEY adds one.</summary>
    public List<string> ApiKey { get; set; } = [];
    public int TensorParallelSize { get; set; } = 1;
    public double GpuMemoryUtilization { get; set; } = 0.9;
    public int? MaxNumSeqs { get; set; }
    public int? MaxNumBatchedTokens { get; set; }
    /// <summary>auto (weights from the folder) or dummy (random weights from config.json).</summary>
    public string LoadFormat { get; set; } = "auto";
    /// <summary>JSON object merged under each request's chat_template_kwargs.</summary>
    public string? DefaultChatTemplateKwargs { get; set; }
    /// <summary>A Jinja file (or inline template) replacing tokenizer_config.json's chat_template.</summary>
    public string? ChatTemplate { get; set; }
    public long? Seed { get; set; }
    /// <summary>KV cache budget on CPU, in GiB (vLLM's VLLM_CPU_KVCACHE_SPACE).</summary>
    public double? KvCacheSpace { get; set; }
    /// <summary>How long SIGTERM waits for in-flight requests before aborting them.</summary>
    public double ShutdownTimeout { get; set; } = 30;
    /// <summary>CUDA: launch every kernel from the host instead of replaying decode steps from CUDA graphs (vLLM's flag).</summary>
    public bool EnforceEager { get; set; }

    public string PrimaryModelName => ServedModelName.Count > 0 ? ServedModelName[0] : Model ?? "";

    public ReasoningFieldMode ReasoningFieldMode => ReasoningField switch
    {
        "reasoning_content" => ReasoningFieldMode.ReasoningContent,
        "reasoning" => ReasoningFieldMode.Reasoning,
        _ => ReasoningFieldMode.Both,
    };

    /// <summary>Refuses settings the server cannot run with, naming the flag.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Model))
        {
            throw new ServerOptionsException("--model is required: the path of a Hugging Face model folder.");
        }
        Check(Device is "cpu" or "cuda" or "auto", $"--device must be cpu, cuda or auto, not '{Device}'.");
        Check(LoadFormat is "auto" or "dummy", $"--load-format must be auto or dummy, not '{LoadFormat}'.");
        Check(ReasoningField is "reasoning_content" or "reasoning" or "both",
            $"--reasoning-field must be reasoning_content, reasoning or both, not '{ReasoningField}'.");
        Check(ReasoningParser is null || Reasoning.ReasoningParserFactory.Names.Contains(ReasoningParser),
            $"--reasoning-parser must be one of {string.Join(", ", Reasoning.ReasoningParserFactory.Names)}, not '{ReasoningParser}'.");
        Check(Port is >= 0 and <= 65535, $"--port must be between 0 and 65535, not {Port}.");
        Check(MaxModelLen is null or > 0, "--max-model-len must be positive.");
        Check(MaxNumSeqs is null or > 0, "--max-num-seqs must be positive.");
        Check(MaxNumBatchedTokens is null or > 0, "--max-num-batched-tokens must be positive.");
        Check(TensorParallelSize > 0, "--tensor-parallel-size must be positive.");
        Check(TensorParallelSize == 1,
            $"--tensor-parallel-size {TensorParallelSize}: tensor parallelism is not implemented yet; each replica runs on one device.");
        Check(GpuMemoryUtilization is > 0 and <= 1, "--gpu-memory-utilization must be in (0, 1].");
        Check(ShutdownTimeout >= 0, "Inference:ShutdownTimeout must not be negative.");
    }

    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new ServerOptionsException(message);
        }
    }
}

internal enum ReasoningFieldMode
{
    Both,
    ReasoningContent,
    Reasoning,
}

/// <summary>A start-up setting that cannot work; the message names the flag and what to do.</summary>
internal sealed class ServerOptionsException(string message) : Exception(message);
