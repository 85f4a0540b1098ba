using System.Runtime.InteropServices;

namespace ReasoningServe.Inference.Backends.Cuda.Native;

/// <summary>cuBLAS (v2 API), just what the linear layers need.</summary>
internal static unsafe partial class Cublas
{
    public const int Success = 0;
    public const int OpN = 0;
    public const int OpT = 1;
    public const int DataTypeF32 = 0;   // CUDA_R_32F
    public const int DataTypeBF16 = 14; // CUDA_R_16BF
    public const int ComputeF32 = 68;   // CUBLAS_COMPUTE_32F
    public const int GemmDefault = -1;  // CUBLAS_GEMM_DEFAULT

    [LibraryImport(CudaLibraries.Cublas, EntryPoint = "cublasCreate_v2")] public static partial int cublasCreate(nint* handle);
    [LibraryImport(CudaLibraries.Cublas, EntryPoint = "cublasDestroy_v2")] public static partial int cublasDestroy(nint handle);
    [LibraryImport(CudaLibraries.Cublas, EntryPoint = "cublasSetStream_v2")] public static partial int cublasSetStream(nint handle, nint stream);
    [LibraryImport(CudaLibraries.Cublas)] public static partial int cublasSetWorkspace_v2(nint handle, ulong workspace, nuint bytes);
    [LibraryImport(CudaLibraries.Cublas)]
    public static partial int cublasGemmEx(nint handle, int transA, int transB, int m, int n, int k, float* alpha,
        ulong a, int aType, int lda, ulong b, int bType, int ldb, float* beta, ulong c, int cType, int ldc, int computeType, int algo);

    public static void Check(int result, string call)
    {
        if (result != Success)
        {
            throw new CudaException($"{call} failed: cublasStatus {result}");
        }
    }
}
