using System.Runtime.InteropServices;

namespace ReasoningServe.Inference.Backends.Cuda.Native;

/// <summary>NVRTC: compiles CUDA C++ source to CUBIN at run time.</summary>
internal static unsafe partial class Nvrtc
{
    public const int Success = 0;

    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcVersion(int* major, int* minor);
    [LibraryImport(CudaLibraries.Nvrtc)]
    public static partial int nvrtcCreateProgram(nint* program, byte* source, byte* name, int headerCount, byte** headers, byte** includeNames);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcDestroyProgram(nint* program);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcCompileProgram(nint program, int optionCount, byte** options);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcGetProgramLogSize(nint program, nuint* size);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcGetProgramLog(nint program, byte* log);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcGetCUBINSize(nint program, nuint* size);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcGetCUBIN(nint program, byte* cubin);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial byte* nvrtcGetErrorString(int result);

    public static void Check(int result, string call)
    {
        if (result != Success)
        {
            throw new CudaException($"{call} failed: {Marshal.PtrToStringUTF8((nint)nvrtcGetErrorString(result))}");
        }
    }
}
