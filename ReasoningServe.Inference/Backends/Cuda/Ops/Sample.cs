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

    /// <param name="logits">The raw fp32 rows (for logprobs).</param>
    /// <param name="adjusted">The rows after logit_adjust.cu (the raw rows when nothing needed adjusting), sampled from.</param>
    public static void Launch(CudaKernels kernels, nint stream, ulong logits, ulong adjusted, int vocab, ulong parameters, ulong results, int rows)
    {
        void** args = stackalloc void*[] { &logits, &adjusted, &vocab, &parameters, &results };
        kernels.Sample.Launch(stream, (uint)rows, 1, 1024, args);
    }
}
