using System.Runtime.InteropServices;
using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>One GPU: its primary context and the stream all our work is queued on, in order.</summary>
internal sealed unsafe class CudaDevice : IDisposable
{
    private readonly int _device;
    private readonly nint _context;
    private bool _disposed;

    public CudaDevice(int ordinal = 0)
    {
        CudaLibraries.Register();
        CudaDriver.Check(CudaDriver.cuInit(0), "cuInit");
        int device;
        CudaDriver.Check(CudaDriver.cuDeviceGet(&device, ordinal), "cuDeviceGet");
        _device = device;
        nint context;
        CudaDriver.Check(CudaDriver.cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain");
        _context = context;
        CudaDriver.Check(CudaDriver.cuCtxSetCurrent(_context), "cuCtxSetCurrent");
        t_current = _context;
        nint stream;
        CudaDriver.Check(CudaDriver.cuStreamCreate(&stream, CudaDriver.StreamNonBlocking), "cuStreamCreate");
        Stream = stream;
        ComputeCapability = Attribute(CudaDriver.DeviceAttributeComputeCapabilityMajor) * 10 + Attribute(CudaDriver.DeviceAttributeComputeCapabilityMinor);
        MultiprocessorCount = Attribute(CudaDriver.DeviceAttributeMultiprocessorCount);
        MaxSharedBytesPerBlock = Attribute(CudaDriver.DeviceAttributeMaxSharedMemoryPerBlockOptin);
        byte* name = stackalloc byte[256];
        CudaDriver.Check(CudaDriver.cuDeviceGetName(name, 256, device), "cuDeviceGetName");
        Name = Marshal.PtrToStringUTF8((nint)name) ?? "";
        int version;
        CudaDriver.Check(CudaDriver.cuDriverGetVersion(&version), "cuDriverGetVersion");
        DriverVersion = version;
    }

    public nint Stream { get; }
    /// <summary>major * 10 + minor, e.g. 90 for Hopper: NVRTC's sm_XY.</summary>
    public int ComputeCapability { get; }
    public int MultiprocessorCount { get; }

    /// <summary>The most shared memory one block may ask for (static + dynamic, after opting in).</summary>
    public int MaxSharedBytesPerBlock { get; }
    public string Name { get; }
    /// <summary>The CUDA version the driver supports, major * 1000 + minor * 10 (13000 for CUDA 13.0).</summary>
    public int DriverVersion { get; }

    /// <summary>
    /// The driver's current context is per thread; every entry point that may run on a new thread calls this. Only a
    /// thread's first call (or a switch between devices) reaches the driver, so a decode step costs no extra P/Invoke.
    /// </summary>
    public void MakeCurrent()
    {
        if (t_current != _context)
        {
            CudaDriver.Check(CudaDriver.cuCtxSetCurrent(_context), "cuCtxSetCurrent");
            t_current = _context;
        }
    }

    [ThreadStatic]
    private static nint t_current;

    public void Synchronize() => CudaDriver.Check(CudaDriver.cuStreamSynchronize(Stream), "cuStreamSynchronize");

    public (long Free, long Total) MemoryInfo()
    {
        nuint free, total;
        CudaDriver.Check(CudaDriver.cuMemGetInfo(&free, &total), "cuMemGetInfo");
        return ((long)free, (long)total);
    }

    private int Attribute(int attribute)
    {
        int value;
        CudaDriver.Check(CudaDriver.cuDeviceGetAttribute(&value, attribute, _device), "cuDeviceGetAttribute");
        return value;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        // A later device may get the same primary-context handle back: never trust this thread's cache across that.
        t_current = 0;
        CudaDriver.cuStreamSynchronize(Stream);
        CudaDriver.cuStreamDestroy(Stream);
        CudaDriver.cuDevicePrimaryCtxRelease(_device);
    }
}
