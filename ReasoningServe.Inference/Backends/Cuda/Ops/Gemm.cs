using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// y[t, o] = sum_i x[t, i] W[o, i] through cuBLAS (bf16 in, fp32 accumulate, bf16 or fp32 out). Row-major x [T, K] and
/// W [N, K] (HF's [out, in]) are column-major x^T and W^T, so y^T = W x^T is gemm(op(W)=T, op(x)=N, m=N, n=T, k=K).
/// With <see cref="UseGemv"/>, up to <see cref="MaxGemvTokens"/> tokens (decode) go to our gemv.cu instead: a whole 7B
/// decode step on cuBLAS moved its weights at an effective 2.2 TB/s of the H200's 4.2 (docs/benchmarks/cuda-h200.md);
/// gemv.cu is the plain bandwidth-bound loop meant to close that gap, and its fused forms also take the rmsnorm before a
/// projection and the SiLU before the down projection, two launches fewer per layer. On the H200 its first version was
/// slower than cuBLAS (a 7B decode step of 1 token 9.9 ms instead of 6.4, of 8 tokens 45 ms instead of 6.5): it rebuilt
/// the input next to every weight chunk. The second builds it once per block in shared memory and keeps more loads in
/// flight; it has not run on a GPU yet, so gemv.cu stays opt-in (RS_CUDA_GEMV=1).
/// </summary>
internal sealed unsafe class Gemm : IDisposable
{
    public const long WorkspaceBytes = 32L << 20;
    public const int MaxGemvTokens = 8;
    private const int GemvRowsPerBlock = 2 * 8; // gemv.cu: ROWS per warp, 8 warps
    private readonly nint _handle;
    private readonly nint _stream;
    private readonly CudaKernels? _kernels;
    private readonly DeviceBuffer _workspace = new(WorkspaceBytes);

    public Gemm(nint stream, CudaKernels? kernels = null)
    {
        _stream = stream;
        _kernels = kernels;
        nint handle;
        Cublas.Check(Cublas.cublasCreate(&handle), "cublasCreate");
        _handle = handle;
        Cublas.Check(Cublas.cublasSetStream(handle, stream), "cublasSetStream");
        Cublas.Check(Cublas.cublasSetWorkspace_v2(handle, _workspace.Pointer, (nuint)WorkspaceBytes), "cublasSetWorkspace");
    }

    /// <param name="ldy">Row stride of y in elements (>= outFeatures).</param>
    /// <summary>Whether a GEMM of <paramref name="tokens"/> rows over <paramref name="inFeatures"/> goes to gemv.cu.</summary>
    public bool UsesGemv(int tokens, int inFeatures) =>
        _kernels is { Gemv.IsLoaded: true } && UseGemv && tokens <= MaxGemvTokens && inFeatures % 8 == 0;

    public void Run(ulong x, int tokens, ulong weight, int outFeatures, int inFeatures, ulong y, int ldy, bool floatOutput = false)
    {
        if (UsesGemv(tokens, inFeatures))
        {
            LaunchGemv(_kernels!.Gemv, _stream, GemvRowsPerBlock, x, tokens, weight, outFeatures, inFeatures, y, ldy, floatOutput);
            return;
        }
        float alpha = 1f, beta = 0f;
        int result = Cublas.cublasGemmEx(_handle, Cublas.OpT, Cublas.OpN, outFeatures, tokens, inFeatures, &alpha,
            weight, Cublas.DataTypeBF16, inFeatures, x, Cublas.DataTypeBF16, inFeatures, &beta,
            y, floatOutput ? Cublas.DataTypeF32 : Cublas.DataTypeBF16, ldy, Cublas.ComputeF32, Cublas.GemmDefault);
        Cublas.Check(result, $"cublasGemmEx({tokens}x{inFeatures} by {outFeatures}x{inFeatures})");
    }

    /// <summary>
    /// gemv.cu's gemv_rmsnorm (only where <see cref="UsesGemv"/>): y = rmsnorm(residual + delta) W^T, and block 0 writes
    /// residual + delta to <paramref name="residualOut"/>; delta and residualOut 0 for a plain rmsnorm first.
    /// </summary>
    public void RunRmsNorm(ulong residual, ulong delta, ulong normWeight, float eps, ulong residualOut, int tokens, ulong weight, int outFeatures,
        int inFeatures, ulong y, int ldy)
    {
        int asFloat = 0;
        void** args = stackalloc void*[] { &residual, &delta, &normWeight, &eps, &residualOut, &tokens, &weight, &outFeatures, &inFeatures, &y, &ldy, &asFloat };
        _kernels!.GemvRmsNorm.Launch(_stream, GemvBlocks(outFeatures), 1, 256, args);
    }

    /// <summary>gemv.cu's gemv_silu (only where <see cref="UsesGemv"/>): y = (silu(gate) * up) W^T from the fused gate_up rows.</summary>
    public void RunSilu(ulong gateUp, int tokens, ulong weight, int outFeatures, int inFeatures, ulong y, int ldy)
    {
        int asFloat = 0;
        void** args = stackalloc void*[] { &gateUp, &tokens, &weight, &outFeatures, &inFeatures, &y, &ldy, &asFloat };
        _kernels!.GemvSilu.Launch(_stream, GemvBlocks(outFeatures), 1, 256, args);
    }

    /// <summary>gemv.cu's plain entry point, or a build of it with other tile parameters (rowsPerBlock = ROWS x 8 warps).</summary>
    public static void LaunchGemv(CudaKernel gemv, nint stream, int rowsPerBlock, ulong x, int tokens, ulong weight, int outFeatures, int inFeatures,
        ulong y, int ldy, bool floatOutput)
    {
        int asFloat = floatOutput ? 1 : 0;
        void** args = stackalloc void*[] { &x, &tokens, &weight, &outFeatures, &inFeatures, &y, &ldy, &asFloat };
        gemv.Launch(stream, GemvBlocks(outFeatures, rowsPerBlock), 1, 256, args);
    }

    private static uint GemvBlocks(int outFeatures, int rowsPerBlock = GemvRowsPerBlock) => (uint)((outFeatures + rowsPerBlock - 1) / rowsPerBlock);

    /// <summary>Whether GEMMs of up to <see cref="MaxGemvTokens"/> tokens use gemv.cu (RS_CUDA_GEMV=1) instead of cuBLAS.</summary>
    public bool UseGemv { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_GEMV") == "1";

    public void Dispose()
    {
        Cublas.cublasDestroy(_handle);
        _workspace.Dispose();
    }
}
