using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// Paged KV cache in device memory, bf16: per layer K and V of [numBlocks * blockSize slots, kvHeads * headDim], all in
/// one allocation (zeroed). The block manager hands out block ids; this class only owns the bytes.
/// </summary>
internal sealed unsafe class CudaKvCache : IDisposable
{
    private readonly DeviceBuffer _memory;
    private readonly long _layerBytes;

    public CudaKvCache(CudaDevice device, int layers, int numBlocks, int blockSize, int kvSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numBlocks);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        NumBlocks = numBlocks;
        BlockSize = blockSize;
        _layerBytes = (long)numBlocks * blockSize * kvSize * 2;
        long bytes = BlockBytes(layers, blockSize, kvSize) * numBlocks;
        (long free, _) = device.MemoryInfo();
        if (bytes > free)
        {
            throw new CudaException($"KV cache of {numBlocks} blocks needs {bytes:N0} bytes; the GPU has {free:N0} free.");
        }
        _memory = new DeviceBuffer(bytes);
        CudaDriver.Check(CudaDriver.cuMemsetD8Async(_memory.Pointer, 0, (nuint)bytes, device.Stream), "cuMemsetD8Async");
    }

    public int NumBlocks { get; }
    public int BlockSize { get; }
    public long TotalSlots => (long)NumBlocks * BlockSize;

    public static long BlockBytes(int layers, int blockSize, int kvSize) => 2L * layers * blockSize * kvSize * 2;

    public ulong K(int layer) => _memory.At(2 * layer * _layerBytes);
    public ulong V(int layer) => _memory.At((2 * layer + 1) * _layerBytes);

    public void Dispose() => _memory.Dispose();
}
