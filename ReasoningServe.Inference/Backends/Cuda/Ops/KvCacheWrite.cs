namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>Writes each token's k and v (from the fused qkv row at kOffset) into its cache slot (kv_write.cu).</summary>
internal static unsafe class KvCacheWrite
{
    public static void Launch(CudaKernels kernels, nint stream, ulong qkv, int rowStride, int kOffset, int kvSize, ulong slots,
        ulong kCache, ulong vCache, int tokens)
    {
        void** args = stackalloc void*[] { &qkv, &rowStride, &kOffset, &kvSize, &slots, &kCache, &vCache };
        kernels.KvWrite.Launch(stream, (uint)tokens, 1, 128, args);
    }
}
