namespace ReasoningServe.Inference.Backends.Cpu;

/// <summary>
/// Paged KV cache in native memory: per layer, K and V of [numBlocks, blockSize, kvHeads, headDim] fp32, zero-filled.
/// The block manager hands out block ids; this class only owns the bytes.
/// </summary>
internal sealed unsafe class CpuKvCache : IDisposable
{
    private readonly NativeBuffer[] _k;
    private readonly NativeBuffer[] _v;

    public CpuKvCache(int layers, int numBlocks, int blockSize, int kvSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numBlocks);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        NumBlocks = numBlocks;
        BlockSize = blockSize;
        long floats = (long)numBlocks * blockSize * kvSize;
        _k = new NativeBuffer[layers];
        _v = new NativeBuffer[layers];
        for (int i = 0; i < layers; i++)
        {
            _k[i] = new NativeBuffer();
            _k[i].AllocateZeroed(floats);
            _v[i] = new NativeBuffer();
            _v[i].AllocateZeroed(floats);
        }
    }

    public int NumBlocks { get; }
    public int BlockSize { get; }
    public long TotalSlots => (long)NumBlocks * BlockSize;

    public static long BlockBytes(int layers, int blockSize, int kvSize) => 2L * layers * blockSize * kvSize * sizeof(float);

    public float* K(int layer) => _k[layer].Pointer;
    public float* V(int layer) => _v[layer].Pointer;

    public void Dispose()
    {
        foreach (NativeBuffer buffer in _k)
        {
            buffer.Dispose();
        }
        foreach (NativeBuffer buffer in _v)
        {
            buffer.Dispose();
        }
    }
}
