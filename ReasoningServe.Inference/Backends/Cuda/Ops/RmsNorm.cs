namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>RMSNorm of each row (rmsnorm.cu); the fused form first adds the sub-layer output into the residual stream.</summary>
internal static unsafe class RmsNorm
{
    private const uint Threads = 256;

    public static void Launch(CudaKernels kernels, nint stream, ulong x, ulong weight, ulong output, int rows, int n, float eps)
    {
        void** args = stackalloc void*[] { &x, &weight, &output, &n, &eps };
        kernels.RmsNorm.Launch(stream, (uint)rows, 1, Threads, args);
    }

    /// <summary>residual += delta (bf16), output = rmsnorm(residual).</summary>
    public static void LaunchAdd(CudaKernels kernels, nint stream, ulong residual, ulong delta, ulong weight, ulong output, int rows, int n, float eps)
    {
        void** args = stackalloc void*[] { &residual, &delta, &weight, &output, &n, &eps };
        kernels.AddRmsNorm.Launch(stream, (uint)rows, 1, Threads, args);
    }
}
