namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>Neox RoPE in place on the first <c>totalHeads</c> heads (q then k) of each fused qkv row (rope.cu).</summary>
internal static unsafe class Rope
{
    public static void Launch(CudaKernels kernels, nint stream, ulong qkv, int rowStride, ulong positions, ulong invFreq,
        int tokens, int totalHeads, int headDim)
    {
        void** args = stackalloc void*[] { &qkv, &rowStride, &positions, &invFreq, &totalHeads, &headDim };
        kernels.Rope.Launch(stream, (uint)tokens, 1, 128, args);
    }
}
