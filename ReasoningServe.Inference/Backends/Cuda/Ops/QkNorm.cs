namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>Qwen3's per-head RMSNorm of q and k, in place in the fused qkv rows (qk_norm.cu).</summary>
internal static unsafe class QkNorm
{
    public static void Launch(CudaKernels kernels, nint stream, ulong qkv, int rowStride, ulong qWeight, ulong kWeight,
        int tokens, int heads, int kvHeads, int headDim, float eps)
    {
        void** args = stackalloc void*[] { &qkv, &rowStride, &qWeight, &kWeight, &heads, &headDim, &eps };
        kernels.QkNorm.Launch(stream, (uint)tokens, (uint)(heads + kvHeads), 32, args);
    }
}
