using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// Whether this machine can run the CUDA backend: the driver loads, initialises and sees a device, and NVRTC and
/// cuBLAS load. Tests skip with <c>reason</c> and <c>--device auto</c> falls back to CPU with it as the warning.
/// </summary>
internal static unsafe class CudaRuntime
{
    private static readonly Lazy<string?> Problem = new(FindProblem);

    public static bool IsAvailable(out string reason)
    {
        reason = Problem.Value ?? "";
        return Problem.Value is null;
    }

    private static string? FindProblem()
    {
        CudaLibraries.Register();
        foreach (string library in new[] { CudaLibraries.Driver, CudaLibraries.Nvrtc, CudaLibraries.Cublas })
        {
            if (!CudaLibraries.TryLoad(library, out _, out string error))
            {
                return error;
            }
        }
        try
        {
            int result = CudaDriver.cuInit(0);
            if (result != CudaDriver.Success)
            {
                return $"CUDA unavailable: cuInit failed: {CudaDriver.Describe(result)}";
            }
            int count;
            CudaDriver.Check(CudaDriver.cuDeviceGetCount(&count), "cuDeviceGetCount");
            return count == 0 ? "CUDA unavailable: the driver sees no GPU." : null;
        }
        catch (Exception e) when (e is CudaException or DllNotFoundException or EntryPointNotFoundException)
        {
            return $"CUDA unavailable: {e.Message}";
        }
    }
}
