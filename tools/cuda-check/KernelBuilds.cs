using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>Builds of a kernel file with other -D macros than the backend's (the sweeps), each its own module, unloaded on Dispose.</summary>
internal sealed class KernelBuilds(CudaDevice device) : IDisposable
{
    private readonly KernelCompiler _compiler = new(device.ComputeCapability, KernelCompiler.DefaultCacheDirectory());
    private readonly List<nint> _modules = [];

    /// <summary>Entry point <paramref name="function"/> of <paramref name="file"/> built with <paramref name="defines"/>.</summary>
    public CudaKernel Load(string file, string[] defines, string function)
    {
        byte[] cubin = _compiler.Compile(file, defines);
        CudaDriver.Check(CudaKernels.LoadModule(cubin, out nint module), $"cuModuleLoadData({file} {string.Join(' ', defines)})");
        _modules.Add(module);
        return CudaKernels.Function(module, function);
    }

    public void Dispose()
    {
        foreach (nint module in _modules)
        {
            CudaDriver.cuModuleUnload(module);
        }
    }
}
