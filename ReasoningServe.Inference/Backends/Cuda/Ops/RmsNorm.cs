namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>RMSNorm of each row (rmsnorm.cu); the fused form first adds the sub-layer output into the residual stream.</summary>
internal static unsafe class RmsNorm
{
    private const uint Threads = 256;

    /// <summary>The longest row rmsnorm.cu keeps in registers (BLOCK x CHUNKS_PER_THREAD x 8 values; a unit test holds it to the macros).</summary>
    internal const int RegisterRowLimit = 256 * 4 * 8;

    /// <summary>
    /// Whether a one-row add_rmsnorm (a one-token step) requests its weight before it waits for the kernel ahead
    /// (add_rmsnorm_early; RS_CUDA_NORM_EARLY=1, off by default: written after run 10, not yet measured).
    /// </summary>
    public static bool EarlyWeight { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_NORM_EARLY") == "1";

    public static void Launch(CudaKernels kernels, nint stream, ulong x, ulong weight, ulong output, int rows, int n, float eps)
    {
        void** args = stackalloc void*[] { &x, &weight, &output, &n, &eps };
        kernels.RmsNorm.Launch(stream, (uint)rows, 1, Threads, args);
    }

    /// <summary>residual += delta (bf16), output = rmsnorm(residual).</summary>
    public static void LaunchAdd(CudaKernels kernels, nint stream, ulong residual, ulong delta, ulong weight, ulong output, int rows, int n, float eps)
    {
        void** args = stackalloc void*[] { &residual, &delta, &weight, &output, &n, &eps };
        bool early = EarlyWeight && rows == 1 && n % 8 == 0 && n <= RegisterRowLimit;
        (early ? kernels.AddRmsNormEarly : kernels.AddRmsNorm).Launch(stream, (uint)rows, 1, Threads, args);
    }
}
