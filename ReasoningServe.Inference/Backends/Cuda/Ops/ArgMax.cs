namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>ids[r] = argmax of fp32 row r (argmax.cu): greedy sampling without copying logits to the host.</summary>
internal static unsafe class ArgMax
{
    /// <summary>argmax.cu's slices: a block of SLICE_THREADS, SLICE_PER_THREAD entries a thread, this many a row.</summary>
    public const int SliceThreads = 256, SlicePerThread = 16, SliceEntries = SliceThreads * SlicePerThread, MaxSlices = 64;

    /// <summary>Launches of up to this many rows take the sliced form (RS_CUDA_ARGMAX_SLICED_ROWS; 0: never).</summary>
    public static readonly int SlicedMaxRows =
        int.TryParse(Environment.GetEnvironmentVariable("RS_CUDA_ARGMAX_SLICED_ROWS"), out int rows) && rows >= 0 ? rows : 8;

    /// <summary>Whether a launch of this many rows of this length takes the sliced form.</summary>
    public static bool Sliced(int rows, int n) => rows <= SlicedMaxRows && n <= MaxSlices * SliceEntries;

    /// <summary>Device scratch the sliced form needs for <paramref name="rows"/> rows.</summary>
    public static long ScratchBytes(int rows) => 8L * rows * MaxSlices;

    /// <param name="scratch">At least <see cref="ScratchBytes"/> bytes of device memory, or 0: one block a row.</param>
    public static void Launch(CudaKernels kernels, nint stream, ulong logits, int n, ulong ids, int rows, ulong scratch = 0)
    {
        if (scratch == 0 || !Sliced(rows, n))
        {
            void** args = stackalloc void*[] { &logits, &n, &ids };
            kernels.ArgMax.Launch(stream, (uint)rows, 1, 1024, args);
            return;
        }
        int slices = MaxSlices;
        void** sliceArgs = stackalloc void*[] { &logits, &n, &scratch };
        kernels.ArgMaxSlices.Launch(stream, (uint)rows, (uint)slices, SliceThreads, sliceArgs);
        void** mergeArgs = stackalloc void*[] { &scratch, &slices, &ids };
        kernels.ArgMaxMerge.Launch(stream, (uint)rows, 1, (uint)((slices + 31) / 32 * 32), mergeArgs);
    }
}
