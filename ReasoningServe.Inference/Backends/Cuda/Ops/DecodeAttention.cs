namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// Paged attention on tensor cores for decode (decode_attention.cu): the query heads of one GQA group are the rows of
/// an m16n8k16 MMA, and each block's four warps stream K/V tiles through cp.async rings, so the step is bound by the
/// cache's bytes rather than fp32 FMAs. The same inputs, output and split-K partial layout as <see cref="GqaAttention"/>
/// (whose <see cref="GqaAttention.PartialFloats"/> sizes the partials and whose combine merges them); one block per
/// (token, KV head, split) for groups of up to <see cref="MaxGroup"/> heads.
/// </summary>
internal static unsafe class DecodeAttention
{
    /// <summary>Splits share a context in whole tiles of this many keys (4 warps x 16).</summary>
    public const int SplitTile = 64;

    public const int MaxGroup = 16;

    /// <summary>head_dim 64 or 128 (the kernel is instantiated for those) and GQA groups of 1 to 16 query heads.</summary>
    public static bool IsSupported(int headDim, int heads, int kvHeads) =>
        headDim is 64 or 128 && kvHeads > 0 && heads % kvHeads == 0 && heads / kvHeads is >= 1 and <= MaxGroup;

    /// <summary>
    /// Enough splits that the launch has about 1.5 blocks per SM (a block keeps ~40 KB of K/V in flight, so one or two
    /// per SM stream at full bandwidth and fewer splits save the combine), each split at least
    /// <see cref="MinTilesPerSplit"/> tiles of the longest context: a long context alone is shared by every SM, a batch
    /// of 64 7B decodes (256 blocks) keeps one split, and so does one short context.
    /// </summary>
    public static int Splits(int tokens, int kvHeads, int maxContext, int multiprocessors)
    {
        int blocks = Math.Max(1, tokens * kvHeads);
        int wanted = (3 * multiprocessors / 2 + blocks - 1) / blocks;
        int tiles = (maxContext + SplitTile - 1) / SplitTile;
        return Math.Clamp(Math.Min(wanted, tiles / MinTilesPerSplit), 1, GqaAttention.MaxSplits);
    }

    /// <summary>
    /// A split's work is worth the combine launch from 4 tiles (256 keys) on: on the H200 one 7B token over 128 positions
    /// took 5 us in one split and 8 us in two, over 32768 positions 31 us in 32 splits (1024 keys each) and 48 us in 16.
    /// </summary>
    public const int MinTilesPerSplit = 4;

    /// <param name="qRowStride">Elements between query rows; must be even (rows are read as bf16 pairs).</param>
    /// <param name="partials">At least <see cref="GqaAttention.PartialFloats"/> floats when <paramref name="splits"/> &gt; 1.</param>
    /// <param name="tokenList">Device ints naming the <paramref name="listed"/> tokens to attend for, or 0 for all <paramref name="tokens"/>.</param>
    /// <param name="early">decode_attention_early: the older keys are requested before the kernel waits for the one ahead of
    /// it. Only where every token attended for is its sequence's one new token (decode tokens).</param>
    public static void Launch(CudaKernels kernels, nint stream, ulong q, int qRowStride, ulong output, ulong partials, ulong kCache, ulong vCache,
        ulong blockTables, int maxBlocks, ulong tokenSeq, ulong tokenContext, int tokens, int heads, int kvHeads, int headDim, int blockSize, int splits,
        ulong tokenList = 0, int listed = 0, bool early = false)
    {
        if (!IsSupported(headDim, heads, kvHeads))
        {
            throw new NotSupportedException(
                $"decode_attention supports head_dim 64 or 128 with GQA groups of up to {MaxGroup}, not head_dim {headDim} with {heads}/{kvHeads} heads.");
        }
        if ((qRowStride & 1) != 0)
        {
            throw new ArgumentException($"query row stride {qRowStride} must be even.", nameof(qRowStride));
        }
        if (splits is < 1 or > GqaAttention.MaxSplits)
        {
            throw new ArgumentOutOfRangeException(nameof(splits), splits, $"splits must be 1 to {GqaAttention.MaxSplits}.");
        }
        int launched = tokenList == 0 ? tokens : listed;
        if (launched == 0)
        {
            return;
        }
        float scale = 1f / MathF.Sqrt(headDim);
        (ulong partialOut, ulong partialMax, ulong partialSum) = GqaAttention.PartialParts(partials, tokens, heads, headDim, splits);
        void** args = stackalloc void*[]
        {
            &q, &qRowStride, &output, &partialOut, &partialMax, &partialSum, &kCache, &vCache, &blockTables, &maxBlocks, &tokenSeq, &tokenContext,
            &tokenList, &heads, &kvHeads, &headDim, &blockSize, &scale,
        };
        (early ? kernels.DecodeAttentionEarly : kernels.DecodeAttention).Launch(stream, (uint)launched, (uint)kvHeads, 128, args, gridZ: (uint)splits);
        GqaAttention.Combine(kernels, stream, partials, output, tokens, heads, headDim, splits, tokenList, launched);
    }
}
