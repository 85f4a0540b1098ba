using ReasoningServe.Inference.Backends.Cuda.Native;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// Copies tensors from host memory (usually a memory-mapped safetensors file) to new device buffers as bf16, through
/// one pinned staging buffer: bf16 bytes are copied as they are, fp16 and fp32 are converted on the host chunk by chunk.
/// </summary>
internal sealed unsafe class WeightUploader : IDisposable
{
    private const int ChunkElements = 16 << 20;
    private readonly PinnedBuffer _staging = new(ChunkElements * 2L);

    public DeviceBuffer Upload(params TensorView[] parts)
    {
        long total = 0;
        foreach (TensorView part in parts)
        {
            total += part.ElementCount;
        }
        var buffer = new DeviceBuffer(total * 2);
        long offset = 0;
        foreach (TensorView part in parts)
        {
            Copy(part, buffer.At(offset * 2));
            offset += part.ElementCount;
        }
        return buffer;
    }

    private void Copy(TensorView tensor, ulong destination)
    {
        long n = tensor.ElementCount;
        ushort* staging = (ushort*)_staging.Pointer;
        for (long start = 0; start < n; start += ChunkElements)
        {
            int count = (int)Math.Min(ChunkElements, n - start);
            var target = new Span<ushort>(staging, count);
            switch (tensor.DType)
            {
                case TensorDType.BF16:
                    new ReadOnlySpan<ushort>((ushort*)tensor.Data + start, count).CopyTo(target);
                    break;
                case TensorDType.F16:
                    var halves = new ReadOnlySpan<Half>((Half*)tensor.Data + start, count);
                    for (int i = 0; i < count; i++)
                    {
                        target[i] = TensorConvert.SingleToBFloat16((float)halves[i]);
                    }
                    break;
                default:
                    var floats = new ReadOnlySpan<float>((float*)tensor.Data + start, count);
                    for (int i = 0; i < count; i++)
                    {
                        target[i] = TensorConvert.SingleToBFloat16(floats[i]);
                    }
                    break;
            }
            CudaDriver.Check(CudaDriver.cuMemcpyHtoD(destination + (ulong)(start * 2), staging, (nuint)(count * 2L)), $"cuMemcpyHtoD({tensor.Name})");
        }
    }

    public void Dispose() => _staging.Dispose();
}
