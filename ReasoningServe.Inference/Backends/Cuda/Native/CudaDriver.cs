using System.Runtime.InteropServices;

namespace ReasoningServe.Inference.Backends.Cuda.Native;

/// <summary>The CUDA driver API (libcuda.so.1), blittable: handles and device pointers are nint/ulong, results int.</summary>
internal static unsafe partial class CudaDriver
{
    public const int Success = 0;
    public const int DeviceAttributeMultiprocessorCount = 16;
    public const int DeviceAttributeComputeCapabilityMajor = 75;
    public const int DeviceAttributeComputeCapabilityMinor = 76;
    public const int DeviceAttributeMaxSharedMemoryPerBlockOptin = 97;
    public const int FuncAttributeMaxDynamicSharedSizeBytes = 8;
    public const uint StreamNonBlocking = 1;
    public const uint EventDefault = 0;
    /// <summary>Capture tolerates calls like cuMemAlloc from the capturing thread (a library's lazy setup runs for real).</summary>
    public const int StreamCaptureModeRelaxed = 2;

    [LibraryImport(CudaLibraries.Driver)] public static partial int cuInit(uint flags);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDriverGetVersion(int* version);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDeviceGetCount(int* count);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDeviceGet(int* device, int ordinal);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDeviceGetAttribute(int* value, int attribute, int device);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuDeviceTotalMem_v2")] public static partial int cuDeviceTotalMem(nuint* bytes, int device);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDevicePrimaryCtxRetain(nint* context, int device);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuDevicePrimaryCtxRelease_v2")] public static partial int cuDevicePrimaryCtxRelease(int device);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuCtxSetCurrent(nint context);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuCtxSynchronize();

    [LibraryImport(CudaLibraries.Driver)] public static partial int cuStreamCreate(nint* stream, uint flags);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuStreamDestroy_v2")] public static partial int cuStreamDestroy(nint stream);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuStreamSynchronize(nint stream);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuEventCreate(nint* ev, uint flags);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuEventDestroy_v2")] public static partial int cuEventDestroy(nint ev);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuEventRecord(nint ev, nint stream);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuEventSynchronize(nint ev);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuEventElapsedTime(float* milliseconds, nint start, nint end);

    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemGetInfo_v2")] public static partial int cuMemGetInfo(nuint* free, nuint* total);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemAlloc_v2")] public static partial int cuMemAlloc(ulong* pointer, nuint bytes);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemFree_v2")] public static partial int cuMemFree(ulong pointer);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemAllocHost_v2")] public static partial int cuMemAllocHost(void** pointer, nuint bytes);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuMemFreeHost(void* pointer);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemcpyHtoD_v2")] public static partial int cuMemcpyHtoD(ulong destination, void* source, nuint bytes);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemcpyDtoH_v2")] public static partial int cuMemcpyDtoH(void* destination, ulong source, nuint bytes);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemcpyHtoDAsync_v2")] public static partial int cuMemcpyHtoDAsync(ulong destination, void* source, nuint bytes, nint stream);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemcpyDtoHAsync_v2")] public static partial int cuMemcpyDtoHAsync(void* destination, ulong source, nuint bytes, nint stream);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemcpyDtoDAsync_v2")] public static partial int cuMemcpyDtoDAsync(ulong destination, ulong source, nuint bytes, nint stream);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemsetD8Async")] public static partial int cuMemsetD8Async(ulong destination, byte value, nuint count, nint stream);

    [LibraryImport(CudaLibraries.Driver)] public static partial int cuModuleLoadData(nint* module, void* image);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuModuleUnload(nint module);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuModuleGetFunction(nint* function, nint module, byte* name);
    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuModuleGetGlobal_v2")] public static partial int cuModuleGetGlobal(ulong* pointer, nuint* bytes, nint module, byte* name);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuFuncSetAttribute(nint function, int attribute, int value);
    [LibraryImport(CudaLibraries.Driver)]
    public static partial int cuOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, nint function, int blockSize, nuint dynamicSharedBytes);
    [LibraryImport(CudaLibraries.Driver)]
    public static partial int cuLaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedBytes, nint stream, void** parameters, void** extra);

    /// <summary>CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION: the launch may overlap the previous kernel in the stream.</summary>
    public const int LaunchAttributeProgrammaticStreamSerialization = 6;

    [LibraryImport(CudaLibraries.Driver)] public static partial int cuLaunchKernelEx(LaunchConfig* config, nint function, void** parameters, void** extra);

    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuStreamBeginCapture_v2")] public static partial int cuStreamBeginCapture(nint stream, int mode);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuStreamEndCapture(nint stream, nint* graph);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuGraphInstantiateWithFlags(nint* graphExec, nint graph, ulong flags);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuGraphLaunch(nint graphExec, nint stream);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuGraphExecDestroy(nint graphExec);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuGraphDestroy(nint graph);

    [LibraryImport(CudaLibraries.Driver)] public static partial int cuGetErrorName(int error, byte** name);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuGetErrorString(int error, byte** text);

    /// <summary>Throws with the call's name and the driver's own name and text for the error.</summary>
    public static void Check(int result, string call)
    {
        if (result != Success)
        {
            throw new CudaException($"{call} failed: {Describe(result)}");
        }
    }

    public static string Describe(int result)
    {
        byte* name = null, text = null;
        string n = cuGetErrorName(result, &name) == Success && name != null ? Marshal.PtrToStringUTF8((nint)name) ?? "" : $"error {result}";
        string t = cuGetErrorString(result, &text) == Success && text != null ? Marshal.PtrToStringUTF8((nint)text) ?? "" : "";
        return t.Length == 0 ? n : $"{n} ({t})";
    }
}

/// <summary>CUlaunchAttribute: an id, padding to 8 bytes, then a 64-byte value union (here only its first int is used).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LaunchAttribute
{
    public int Id;
    private readonly int _padding;
    public fixed byte Value[64];
}

/// <summary>CUlaunchConfig, as cuLaunchKernelEx reads it.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LaunchConfig
{
    public uint GridX, GridY, GridZ, BlockX, BlockY, BlockZ, SharedBytes;
    public nint Stream;
    public LaunchAttribute* Attributes;
    public uint AttributeCount;
}
