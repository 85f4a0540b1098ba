namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>out = silu(gate) * up from fused gate_up rows [tokens, 2n] (silu_mul.cu).</summary>
internal static unsafe class SiluAndMul
{
    public static void Launch(CudaKernels kernels, nint stream, ulong gateUp, ulong output, int n, int tokens)
    {
        void** args = stackalloc void*[] { &gateUp, &output, &n };
        const int perBlock = 256 * 8; // silu_mul.cu: 8 values per thread
        kernels.SiluMul.Launch(stream, (uint)((n + perBlock - 1) / perBlock), (uint)tokens, 256, args);
    }
}
