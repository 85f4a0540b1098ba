using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>Page-locked host memory: the only host memory async copies overlap with and run at full PCIe speed from.</summary>
internal sealed unsafe class PinnedBuffer : IDisposable
{
    public PinnedBuffer(long bytes = 0) => EnsureCapacity(bytes);

    public byte* Pointer { get; private set; }
    public long Bytes { get; private set; }

    public void EnsureCapacity(long bytes)
    {
        if (bytes <= Bytes)
        {
            return;
        }
        Free();
        void* pointer;
        CudaDriver.Check(CudaDriver.cuMemAllocHost(&pointer, (nuint)bytes), $"cuMemAllocHost({bytes:N0} bytes)");
        Pointer = (byte*)pointer;
        Bytes = bytes;
    }

    public Span<T> AsSpan<T>(long count) where T : unmanaged => new(Pointer, checked((int)count));

    private void Free()
    {
        if (Pointer != null)
        {
            CudaDriver.cuMemFreeHost(Pointer);
            Pointer = null;
            Bytes = 0;
        }
    }

    public void Dispose() => Free();
}
