namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>out = silu(gate) * up from fused gate_up rows [tokens, 2n] (silu_mul.cu).</summary>
internal static unsafe class SiluAndMul
{
    public static void Launch(CudaKernels kernels, nint stream, ulong gateUp, ulong output, int n, int tokens)
    {
        void** args = stackalloc void*[] { &gateUp, &output, &n };
        kernels.SiluMul.Launch(stream, (uint)((n + 255) / 256), (uint)tokens, 256, args);
    }
}
