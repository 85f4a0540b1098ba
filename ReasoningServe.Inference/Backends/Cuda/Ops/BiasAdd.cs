namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>y[t, :n] += b (bias_add.cu): the biases cuBLAS does not fold in.</summary>
internal static unsafe class BiasAdd
{
    public static void Launch(CudaKernels kernels, nint stream, ulong y, int rowStride, ulong bias, int n, int tokens)
    {
        void** args = stackalloc void*[] { &y, &rowStride, &bias, &n };
        kernels.BiasAdd.Launch(stream, (uint)tokens, 1, 256, args);
    }
}
