using System.Runtime.InteropServices;

namespace ReasoningServe.Inference.Backends.Cpu;

/// <summary>
/// A 64-byte aligned fp32 buffer outside the GC heap: pointers into it can be handed to worker threads, and it grows
/// only when a bigger batch arrives, so steady-state steps allocate nothing.
/// </summary>
internal sealed unsafe class NativeBuffer : IDisposable
{
    public float* Pointer { get; private set; }
    public long Length { get; private set; }

    public NativeBuffer(long length = 0) => EnsureCapacity(length);

    public void EnsureCapacity(long length)
    {
        if (length <= Length)
        {
            return;
        }
        Free();
        Pointer = (float*)NativeMemory.AlignedAlloc((nuint)(length * sizeof(float)), 64);
        Length = length;
    }

    /// <summary>Like <see cref="EnsureCapacity"/> but zero-filled (the KV cache must not hold garbage NaNs).</summary>
    public void AllocateZeroed(long length)
    {
        Free();
        if (length > 0)
        {
            Pointer = (float*)NativeMemory.AlignedAlloc((nuint)(length * sizeof(float)), 64);
            NativeMemory.Clear(Pointer, (nuint)(length * sizeof(float)));
            Length = length;
        }
    }

    public Span<float> Span(long offset, int length) => new(Pointer + offset, length);

    private void Free()
    {
        if (Pointer != null)
        {
            NativeMemory.AlignedFree(Pointer);
            Pointer = null;
            Length = 0;
        }
    }

    public void Dispose() => Free();
}
