using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Inference.Model;

/// <summary>
/// The decoder's tensors by role, in their stored types ([out, in] row-major for linear layers, as HF stores them).
/// Optional tensors are null when the config says the model has none (biases, q/k norms). Disposing releases the
/// memory the views point into.
/// </summary>
internal sealed class ModelWeights(TensorView embedTokens, LayerWeights[] layers, TensorView finalNorm, TensorView lmHead, IDisposable? owner)
    : IDisposable
{
    public TensorView EmbedTokens { get; } = embedTokens;
    public IReadOnlyList<LayerWeights> Layers { get; } = layers;
    public TensorView FinalNorm { get; } = finalNorm;
    /// <summary>The same view as <see cref="EmbedTokens"/> when the embeddings are tied.</summary>
    public TensorView LmHead { get; } = lmHead;

    public void Dispose() => owner?.Dispose();
}

internal sealed class LayerWeights
{
    public required TensorView InputNorm { get; init; }
    public required TensorView QProj { get; init; }
    public required TensorView KProj { get; init; }
    public required TensorView VProj { get; init; }
    public required TensorView OProj { get; init; }
    public TensorView? QBias { get; init; }
    public TensorView? KBias { get; init; }
    public TensorView? VBias { get; init; }
    public TensorView? OBias { get; init; }
    public TensorView? QNorm { get; init; }
    public TensorView? KNorm { get; init; }
    public required TensorView PostAttentionNorm { get; init; }
    public required TensorView GateProj { get; init; }
    public required TensorView UpProj { get; init; }
    public required TensorView DownProj { get; init; }
    public TensorView? GateBias { get; init; }
    public TensorView? UpBias { get; init; }
    public TensorView? DownBias { get; init; }
}
