namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// One decoder layer on the device, bf16. q/k/v are one matrix [q + 2 kv, hidden] and gate/up one [2 inter, hidden]
/// (rows concatenated, as vLLM's merged layers), so each is a single GEMM; biases are concatenated the same way.
/// Optional parts are null when the model has none.
/// </summary>
internal sealed class CudaLayer : IDisposable
{
    public required DeviceBuffer InputNorm { get; init; }
    public required DeviceBuffer PostAttentionNorm { get; init; }
    public DeviceBuffer? QNorm { get; init; }
    public DeviceBuffer? KNorm { get; init; }
    public required DeviceBuffer Qkv { get; init; }
    public DeviceBuffer? QkvBias { get; init; }
    public required DeviceBuffer O { get; init; }
    public DeviceBuffer? OBias { get; init; }
    public required DeviceBuffer GateUp { get; init; }
    public DeviceBuffer? GateUpBias { get; init; }
    public required DeviceBuffer Down { get; init; }
    public DeviceBuffer? DownBias { get; init; }

    public void Dispose()
    {
        foreach (DeviceBuffer? buffer in new[] { InputNorm, PostAttentionNorm, QNorm, KNorm, Qkv, QkvBias, O, OBias, GateUp, GateUpBias, Down, DownBias })
        {
            buffer?.Dispose();
        }
    }
}
