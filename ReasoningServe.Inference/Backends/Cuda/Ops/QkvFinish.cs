namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// Bias, q/k RMSNorm, RoPE and the K/V cache write of each fused qkv row in one launch (qkv_finish.cu). Pass 0 for the
/// bias or the norm weights a model does not have.
/// </summary>
internal static unsafe class QkvFinish
{
    public const int MaxHeadDim = 256;

    public static void Launch(CudaKernels kernels, nint stream, ulong qkv, int rowStride, ulong bias, ulong qNorm, ulong kNorm, float eps,
        ulong positions, ulong invFreq, ulong slots, ulong kCache, ulong vCache, int tokens, int heads, int kvHeads, int headDim)
    {
        if (headDim > MaxHeadDim || headDim % 2 != 0)
        {
            throw new NotSupportedException($"head_dim {headDim}: qkv_finish takes even head dims up to {MaxHeadDim}.");
        }
        void** args = stackalloc void*[]
        {
            &qkv, &rowStride, &bias, &qNorm, &kNorm, &eps, &positions, &invFreq, &slots, &kCache, &vCache, &heads, &kvHeads, &headDim,
        };
        const int warps = 4;
        kernels.QkvFinish.Launch(stream, (uint)tokens, (uint)((heads + 2 * kvHeads + warps - 1) / warps), warps * 32, args);
    }
}
