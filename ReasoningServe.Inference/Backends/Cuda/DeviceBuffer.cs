using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>Device memory (cuMemAlloc: 256-byte aligned). Grows only when asked for more, so steady steps allocate nothing.</summary>
internal sealed unsafe class DeviceBuffer : IDisposable
{
    public DeviceBuffer(long bytes = 0) => EnsureCapacity(bytes);

    public ulong Pointer { get; private set; }
    public long Bytes { get; private set; }

    /// <summary>Reallocates (contents lost) when smaller than <paramref name="bytes"/>; the caller synchronizes first.</summary>
    public void EnsureCapacity(long bytes)
    {
        if (bytes <= Bytes)
        {
            return;
        }
        Free();
        ulong pointer;
        int result = CudaDriver.cuMemAlloc(&pointer, (nuint)bytes);
        if (result != CudaDriver.Success)
        {
            throw new CudaException($"cuMemAlloc of {bytes:N0} bytes failed: {CudaDriver.Describe(result)}");
        }
        Pointer = pointer;
        Bytes = bytes;
    }

    public ulong At(long byteOffset) => Pointer + (ulong)byteOffset;

    private void Free()
    {
        if (Pointer != 0)
        {
            CudaDriver.cuMemFree(Pointer);
            Pointer = 0;
            Bytes = 0;
        }
    }

    public void Dispose() => Free();
}
