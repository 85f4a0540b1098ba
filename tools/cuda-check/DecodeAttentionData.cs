using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;
using static ReasoningServe.Tools.CudaCheck.DeviceArrays;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// The inputs for timing decode attention alone (<see cref="DecodeAttentionChecks"/>' bench, <see cref="AttentionSweep"/>):
/// one token each of <c>tokens</c> sequences over <c>context</c> positions, heads of <see cref="D"/>, q rows strided like
/// the fused qkv buffer, and two copies of the K/V cache: sequence s of copy c uses blocks (c * tokens + s) * BlocksPerSeq..
/// of the pool (in order, or shuffled with <c>shuffle</c>), so launches alternating between <see cref="Seq0"/> and
/// <see cref="Seq1"/> find none of their K/V in the 50 MB L2. Filled with uniform values and synchronized.
/// </summary>
internal sealed class DecodeAttentionData : IDisposable
{
    public const int D = 128;

    public DecodeAttentionData(CudaKernels kernels, nint stream, int tokens, int context, int heads, int kvHeads, int blockSize, Random? shuffle)
    {
        QSize = heads * D;
        KvSize = kvHeads * D;
        QStride = QSize + 2 * KvSize;
        BlocksPerSeq = context / blockSize;
        int numBlocks = 2 * tokens * BlocksPerSeq;
        Slots = (long)numBlocks * blockSize;
        KvBytes = 2.0 * 2 * tokens * (double)context * KvSize;
        int[] pool = shuffle is null ? Enumerable.Range(0, numBlocks).ToArray() : Enumerable.Range(0, numBlocks).OrderBy(_ => shuffle.Next()).ToArray();
        Q = new(2L * tokens * QStride);
        K = new(2 * Slots * KvSize);
        V = new(2 * Slots * KvSize);
        Tables = Upload(pool);
        Seq0 = Upload(Enumerable.Range(0, tokens).ToArray());
        Seq1 = Upload(Enumerable.Range(tokens, tokens).ToArray());
        Context = Upload(Enumerable.Repeat(context, tokens).ToArray());
        Gpu.FillUniform.Launch(kernels, stream, Q.Pointer, (long)tokens * QStride, 1, 2f, 0f);
        Gpu.FillUniform.Launch(kernels, stream, K.Pointer, Slots * KvSize, 2, 2f, 0f);
        Gpu.FillUniform.Launch(kernels, stream, V.Pointer, Slots * KvSize, 3, 1f, 0f);
        CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    public int QSize { get; }
    public int KvSize { get; }
    public int QStride { get; }
    public int BlocksPerSeq { get; }

    /// <summary>Cache slots of both copies together.</summary>
    public long Slots { get; }

    /// <summary>The K and V bytes one launch reads.</summary>
    public double KvBytes { get; }

    public DeviceBuffer Q { get; }
    public DeviceBuffer K { get; }
    public DeviceBuffer V { get; }
    public DeviceBuffer Tables { get; }
    public DeviceBuffer Seq0 { get; }
    public DeviceBuffer Seq1 { get; }
    public DeviceBuffer Context { get; }

    public void Dispose()
    {
        Q.Dispose();
        K.Dispose();
        V.Dispose();
        Tables.Dispose();
        Seq0.Dispose();
        Seq1.Dispose();
        Context.Dispose();
    }
}
