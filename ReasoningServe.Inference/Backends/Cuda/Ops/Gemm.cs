using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// y[t, o] = sum_i x[t, i] W[o, i] through cuBLAS (bf16 in, fp32 accumulate, bf16 or fp32 out). Row-major x [T, K] and
/// W [N, K] (HF's [out, in]) are column-major x^T and W^T, so y^T = W x^T is gemm(op(W)=T, op(x)=N, m=N, n=T, k=K).
/// </summary>
internal sealed unsafe class Gemm : IDisposable
{
    public const long WorkspaceBytes = 32L << 20;
    private readonly nint _handle;
    private readonly DeviceBuffer _workspace = new(WorkspaceBytes);

    public Gemm(nint stream)
    {
        nint handle;
        Cublas.Check(Cublas.cublasCreate(&handle), "cublasCreate");
        _handle = handle;
        Cublas.Check(Cublas.cublasSetStream(handle, stream), "cublasSetStream");
        Cublas.Check(Cublas.cublasSetWorkspace_v2(handle, _workspace.Pointer, (nuint)WorkspaceBytes), "cublasSetWorkspace");
    }

    /// <param name="ldy">Row stride of y in elements (>= outFeatures).</param>
    public void Run(ulong x, int tokens, ulong weight, int outFeatures, int inFeatures, ulong y, int ldy, bool floatOutput = false)
    {
        float alpha = 1f, beta = 0f;
        int result = Cublas.cublasGemmEx(_handle, Cublas.OpT, Cublas.OpN, outFeatures, tokens, inFeatures, &alpha,
            weight, Cublas.DataTypeBF16, inFeatures, x, Cublas.DataTypeBF16, inFeatures, &beta,
            y, floatOutput ? Cublas.DataTypeF32 : Cublas.DataTypeBF16, ldy, Cublas.ComputeF32, Cublas.GemmDefault);
        Cublas.Check(result, $"cublasGemmEx({tokens}x{inFeatures} by {outFeatures}x{inFeatures})");
    }

    public void Dispose()
    {
        Cublas.cublasDestroy(_handle);
        _workspace.Dispose();
    }
}
