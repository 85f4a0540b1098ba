namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// Paged attention with the GQA group's query heads in one block and the context split across blocks
/// (gqa_attention.cu, then attention_combine.cu when there is more than one split).
/// </summary>
internal static unsafe class GqaAttention
{
    public const int Tile = 128, MaxGroupPerBlock = 8, MaxSplits = 64;

    /// <summary>head_dim a power of two from 16 to 256 (a thread owns two output dims; the pairs must tile 128 threads).</summary>
    public static bool IsSupported(int headDim) => headDim is >= 16 and <= 256 && (headDim & (headDim - 1)) == 0;

    /// <summary>
    /// Enough splits that the launch fills the GPU about twice over, never more than the longest context has tiles:
    /// a long decode context is shared by many SMs, a large batch or a prefill keeps one split (no combine).
    /// </summary>
    public static int Splits(int tokens, int heads, int kvHeads, int maxContext, int multiprocessors)
    {
        int blocks = tokens * kvHeads * ((heads / kvHeads + MaxGroupPerBlock - 1) / MaxGroupPerBlock);
        int wanted = (2 * multiprocessors + blocks - 1) / blocks;
        int tiles = (maxContext + Tile - 1) / Tile;
        return Math.Clamp(Math.Min(wanted, tiles), 1, MaxSplits);
    }

    /// <summary>fp32 floats of partial output plus max and sum that <paramref name="splits"/> splits need.</summary>
    public static long PartialFloats(int tokens, int heads, int headDim, int splits) =>
        splits == 1 ? 0 : (long)tokens * heads * splits * (headDim + 2);

    /// <param name="tokens">Tokens in the batch (rows of q and output).</param>
    /// <param name="tokenList">Device ints naming the <paramref name="listed"/> tokens to attend for, or 0 for all <paramref name="tokens"/>.</param>
    public static void Launch(CudaKernels kernels, nint stream, ulong q, int qRowStride, ulong output, ulong partials, ulong kCache, ulong vCache,
        ulong blockTables, int maxBlocks, ulong tokenSeq, ulong tokenContext, int tokens, int heads, int kvHeads, int headDim, int blockSize, int splits,
        ulong tokenList = 0, int listed = 0)
    {
        int launched = tokenList == 0 ? tokens : listed;
        if (launched == 0)
        {
            return;
        }
        float scale = 1f / MathF.Sqrt(headDim);
        (ulong partialOut, ulong partialMax, ulong partialSum) = PartialParts(partials, tokens, heads, headDim, splits);
        void** args = stackalloc void*[]
        {
            &q, &qRowStride, &output, &partialOut, &partialMax, &partialSum, &kCache, &vCache, &blockTables, &maxBlocks, &tokenSeq, &tokenContext,
            &tokenList, &heads, &kvHeads, &headDim, &blockSize, &scale,
        };
        int chunks = (heads / kvHeads + MaxGroupPerBlock - 1) / MaxGroupPerBlock;
        kernels.GqaAttention.Launch(stream, (uint)launched, (uint)(kvHeads * chunks), 128, args, gridZ: (uint)splits);
        Combine(kernels, stream, partials, output, tokens, heads, headDim, splits, tokenList, launched);
    }

    /// <summary>
    /// Where the partial buffer of <see cref="PartialFloats"/> keeps the splits' fp32 outputs [tokens, heads, splits, headDim],
    /// maxima and sums [tokens, heads, splits] (decode_attention.cu uses the same layout).
    /// </summary>
    internal static (ulong Out, ulong Max, ulong Sum) PartialParts(ulong partials, int tokens, int heads, int headDim, int splits)
    {
        long parts = (long)tokens * heads * splits;
        ulong max = partials + (ulong)(4 * parts * headDim);
        return (partials, max, max + (ulong)(4 * parts));
    }

    /// <summary>attention_combine.cu over the <paramref name="launched"/> tokens' splits, when there is more than one.</summary>
    internal static void Combine(CudaKernels kernels, nint stream, ulong partials, ulong output, int tokens, int heads, int headDim, int splits,
        ulong tokenList, int launched)
    {
        if (splits <= 1)
        {
            return;
        }
        (ulong partialOut, ulong partialMax, ulong partialSum) = PartialParts(partials, tokens, heads, headDim, splits);
        void** combine = stackalloc void*[] { &partialOut, &partialMax, &partialSum, &output, &tokenList, &heads, &headDim, &splits };
        kernels.AttentionCombine.Launch(stream, (uint)launched, (uint)heads, 128, combine);
    }
}
