namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>ids[r] = argmax of fp32 row r (argmax.cu): greedy sampling without copying logits to the host.</summary>
internal static unsafe class ArgMax
{
    public static void Launch(CudaKernels kernels, nint stream, ulong logits, int n, ulong ids, int rows)
    {
        void** args = stackalloc void*[] { &logits, &n, &ids };
        kernels.ArgMax.Launch(stream, (uint)rows, 1, 1024, args);
    }
}
