namespace ReasoningServe.Inference.Model;

/// <summary>
/// The decoder's shape, read from a Hugging Face config.json. Qwen2, Qwen3 and Llama share one code path; the
/// differences are flags (QkvBias, QkNorm) and the RoPE scaling.
/// </summary>
internal sealed record ModelConfig
{
    public required string Architecture { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public float RmsNormEps { get; init; } = 1e-6f;
    public float RopeTheta { get; init; } = 10000f;
    public RopeScaling? RopeScaling { get; init; }
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Qwen2: q/k/v projections carry a bias.</summary>
    public bool QkvBias { get; init; }
    /// <summary>Qwen3: RMSNorm over each head of q and k before RoPE.</summary>
    public bool QkNorm { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 32768;
    public string TorchDtype { get; init; } = "bfloat16";
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public int? BosTokenId { get; init; }
    /// <summary>o_proj carries a bias (Llama/Qwen3 attention_bias; Qwen2 has q/k/v bias only).</summary>
    public bool OProjBias { get; init; }
    /// <summary>Llama mlp_bias: gate/up/down projections carry a bias.</summary>
    public bool MlpBias { get; init; }

    public int QSize => NumHeads * HeadDim;
    public int KvSize => NumKvHeads * HeadDim;

    /// <summary>Reads config.json; throws <see cref="ModelLoadException"/> naming the file and the problem.</summary>
    public static ModelConfig FromFile(string path) => ModelConfigReader.Read(path);
}

/// <summary>rope_scaling from config.json; Type "llama3" is the one DeepSeek-R1-Distill-Llama needs.</summary>
internal sealed record RopeScaling(
    string Type,
    float Factor,
    float LowFreqFactor,
    float HighFreqFactor,
    int OriginalMaxPositionEmbeddings);
