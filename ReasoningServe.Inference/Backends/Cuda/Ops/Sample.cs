namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// One token per fp32 logits row drawn on the GPU (sample.cu): temperature, min-p, top-k, top-p, a seed per row or a
/// forced token, and raw-logit logprobs. Parameters go in as 8 floats per row; results come out as <see cref="OutInts"/> ints per row.
/// </summary>
internal static unsafe class Sample
{
    public const int ParamFloats = 8;
    public const int OutInts = 3 + 2 * BackendSamples.MaxTopLogprobs;

    /// <summary>Writes row <paramref name="row"/>'s parameters in the kernel's layout.</summary>
    public static void Pack(in BackendSamplingParams p, Span<float> destination, int row)
    {
        Span<float> d = destination.Slice(row * ParamFloats, ParamFloats);
        d[0] = p.Temperature;
        d[1] = p.TopP;
        d[2] = p.MinP;
        d[3] = p.TopK;
        d[4] = BitConverter.Int32BitsToSingle(unchecked((int)p.Seed));
        d[5] = BitConverter.Int32BitsToSingle(unchecked((int)(p.Seed >> 32)));
        d[6] = Math.Min(p.Logprobs, BackendSamples.MaxTopLogprobs);
        d[7] = BitConverter.Int32BitsToSingle(p.Forced);
    }

    /// <summary>Reads row <paramref name="row"/>'s results into <paramref name="samples"/>.</summary>
    public static void Unpack(ReadOnlySpan<int> results, int row, int logprobs, BackendSamples samples)
    {
        ReadOnlySpan<int> r = results.Slice(row * OutInts, OutInts);
        samples.Tokens[row] = r[0];
        if (logprobs < 0)
        {
            return;
        }
        samples.Logprobs[row] = BitConverter.Int32BitsToSingle(r[1]);
        samples.Ranks[row] = r[2];
        for (int k = 0; k < Math.Min(logprobs, BackendSamples.MaxTopLogprobs); k++)
        {
            samples.TopIds[row * BackendSamples.MaxTopLogprobs + k] = r[3 + 2 * k];
            samples.TopLogprobs[row * BackendSamples.MaxTopLogprobs + k] = BitConverter.Int32BitsToSingle(r[4 + 2 * k]);
        }
    }

    /// <summary>sample.cu's slices: a block of SLICE_THREADS, SLICE_PER_THREAD entries a thread, MAX_SLICES a row.</summary>
    public const int SliceThreads = 256, SlicePerThread = 16, SliceEntries = SliceThreads * SlicePerThread, MaxSlices = 64;

    /// <summary>
    /// The most top-k the sliced path draws itself (SLICE_MAX_TOP_K; top-p alone too, from each slice's that many + 1
    /// largest); its candidates a slice (SLICE_KEEP).
    /// </summary>
    public const int SlicedMaxTopK = 64, SliceKeep = 2 * (SlicedMaxTopK + 1);

    /// <summary>
    /// Batches of up to this many rows take the sliced path (sample_slices, then sample_merge: a row over
    /// <see cref="MaxSlices"/> blocks) instead of sample's block a row (RS_CUDA_SAMPLE_SLICED_ROWS; 0: never). On the H200
    /// one 151936-entry row at T 0.6 / top-p 0.95 / top-k 20 took 22.7 us against 151.2 (run 26, call 4). For 64 streams of
    /// the 7B through the server it made no difference that run 26 could see (call 7: 7043-7179 sampled tok/s with up to 64
    /// rows sliced, 7071-7083 with 8), so batches above 8 keep sample's block a row.
    /// </summary>
    public static readonly int SlicedMaxRows =
        int.TryParse(Environment.GetEnvironmentVariable("RS_CUDA_SAMPLE_SLICED_ROWS"), out int rows) && rows >= 0 ? rows : 8;

    /// <summary>Whether a launch of this many rows of this length takes the sliced path.</summary>
    public static bool Sliced(int rows, int vocab) => rows <= SlicedMaxRows && vocab <= MaxSlices * SliceEntries;

    /// <summary>
    /// A row's p as sample_merge writes them for a flat row's nucleus search (flat_chunks: a float4 for each of 1024 threads
    /// and each 4096 entries).
    /// </summary>
    public static long FlatBytes(int vocab) => 16L * 1024 * ((vocab + 4095) / 4096);

    /// <summary>Device scratch the sliced path needs for <paramref name="rows"/> rows (0 where it is not taken).</summary>
    public static long ScratchBytes(int rows, int vocab) => Sliced(rows, vocab) ? rows * (MaxSlices * (16L + 8 * SliceKeep) + FlatBytes(vocab)) : 0;

    /// <param name="logits">The raw fp32 rows (for logprobs).</param>
    /// <param name="adjusted">The rows after logit_adjust.cu (the raw rows when nothing needed adjusting), sampled from.</param>
    /// <param name="scratch">At least <see cref="ScratchBytes"/> bytes of device memory.</param>
    /// <param name="sliced">Whether to take the sliced path where <see cref="Sliced"/> allows it (false: sample's block a row).</param>
    public static void Launch(CudaKernels kernels, nint stream, ulong logits, ulong adjusted, int vocab, ulong parameters, ulong results, int rows,
        ulong scratch, bool sliced = true)
    {
        if (!sliced || !Sliced(rows, vocab))
        {
            void** args = stackalloc void*[] { &logits, &adjusted, &vocab, &parameters, &results };
            kernels.Sample.Launch(stream, (uint)rows, 1, 1024, args);
            return;
        }
        int slices = MaxSlices;
        ulong heads = scratch, kept = scratch + (ulong)(16L * rows * slices), flat = kept + (ulong)(8L * rows * slices * SliceKeep);
        void** sliceArgs = stackalloc void*[] { &adjusted, &vocab, &parameters, &heads, &kept };
        kernels.SampleSlices.Launch(stream, (uint)rows, (uint)slices, SliceThreads, sliceArgs);
        void** mergeArgs = stackalloc void*[] { &logits, &adjusted, &vocab, &parameters, &heads, &kept, &flat, &slices, &results };
        kernels.SampleMerge.Launch(stream, (uint)rows, 1, 1024, mergeArgs);
    }
}
