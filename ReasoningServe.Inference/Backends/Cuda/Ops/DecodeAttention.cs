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
    /// Enough splits that the launch has about 1.5 blocks per SM (<see cref="BlocksPercentOfSms"/>; a block keeps ~40 KB
    /// of K/V in flight, so one or two per SM stream at full bandwidth), each split at least <see cref="MinTilesPerSplit"/>
    /// tiles of the longest context, at most <see cref="MaxDecodeSplits"/> (or, where every split still gets
    /// <see cref="LongSplitTiles"/> tiles, up to <see cref="MaxLongSplits"/>), and none below <see cref="SplitFromTiles"/>
    /// tiles: a long context alone is shared by every SM, a batch of 64 7B decodes (256 blocks) keeps one split, and so
    /// does one short context. A launch that takes the deep rings goes in one block an SM instead, so that it takes
    /// decode_attention_deep8 (<see cref="UsesDeep8"/>): a 7B token over 12000-32000 positions in 33 splits instead of 50,
    /// 0.6-2.8% off the step (run 18: 3.912-3.967 / 3.971-4.040 / 4.085-4.159 / 4.265-4.266 ms at 12000 / 16000 / 24000 /
    /// 32000 positions against 3.944-3.989 / 4.082-4.085 / 4.194-4.204 / 4.327-4.339).
    /// </summary>
    public static int Splits(int tokens, int kvHeads, int maxContext, int multiprocessors)
    {
        int blocks = Math.Max(1, tokens * kvHeads);
        int tiles = Tiles(maxContext);
        if (tiles < (tokens == 1 ? OneTokenSplitFromTiles : SplitFromTiles))
        {
            return 1;
        }
        int most = Math.Max(MaxDecodeSplits, Math.Min(tiles / LongSplitTiles, MaxLongSplits));
        int Clamped(int wanted) => Math.Clamp(Math.Min(wanted, tiles / MinTilesPerSplit), 1, most);
        int splits = Clamped((BlocksPercentOfSms * multiprocessors / 100 + blocks - 1) / blocks);
        if (Deep8 && UsesDeep(maxContext, splits, tokens))
        {
            int oneAnSm = Clamped(multiprocessors / blocks);
            if (UsesDeep(maxContext, oneAnSm, tokens))
            {
                splits = oneAnSm;
            }
        }
        return splits;
    }

    // The policy's numbers come from whole one-token steps (cuda-check's context-sweep) on the H200. Run 12, contexts of
    // 256 to 4096 positions: the 1.5B step at 512 positions took 1.31 ms in 2 splits of 4 tiles and 1.21 in 8 of one; at
    // 256 positions 1.17 in one split and 1.19 in 4; at 4096 1.32 in 32 splits and 1.39 in 64 (the combine reads every
    // split's row). Run 13, 4096 to 32768 positions, 32 splits against 64 (1.5B) or 50 (7B): 1.5B 1.31 / 1.37 ms at 4096,
    // 1.42 / 1.43 at 8192, 1.64 / 1.56 at 16384, 2.06 / 1.75 at 32768; 7B 3.84 / 3.96, 3.90-3.95 / 3.95-4.03,
    // 4.11-4.16 / 4.12-4.21, 4.60 / 4.53-4.54: more splits pay once each keeps 4 tiles or more, and most where 32 splits
    // leave SMs idle (the 1.5B's 2 KV heads make 64 blocks). RS_CUDA_SPLIT_TILES, RS_CUDA_SPLIT_FROM, RS_CUDA_SPLIT_MAX,
    // RS_CUDA_SPLIT_LONG_TILES, RS_CUDA_SPLIT_LONG_MAX and RS_CUDA_SPLIT_BLOCKS override them.

    /// <summary>decode_attention_deep's dynamic shared memory (decode_attention.cuh's ATT_DEEP_SMEM_BYTES).</summary>
    public const int DeepSharedBytes = 98304;

    /// <summary>
    /// Whether a launch takes decode_attention_deep (rings of 6 tiles instead of 3, two blocks an SM instead of three):
    /// where the context is split and each split's warps have at least <see cref="DeepFromWarpTiles"/> 16-key tiles
    /// each, or where one token's context of <see cref="OneTokenDeepFromTiles"/> tiles or more is one split (which the
    /// deep launch runs as decode_attention_deep8, <see cref="UsesDeep8"/>) (RS_CUDA_ATT_DEEP=1: always, 0: never). On
    /// the H200 (run 13, whole one-token steps, two alternations) it took the 1.5B step at 16384 / 32768 positions from
    /// 1.55 / 1.77 to 1.51 / 1.68 ms and the 7B one from 4.20-4.22 / 4.51 to 4.04-4.08 / 4.32-4.34; at 4096 positions (2
    /// tiles a split) it changed nothing, and it was slower in 16 splits of one tile (1.22 -> 1.24) and for 64 sequences in
    /// one split (1.5B 1.81 -> 1.92, 7B at 1024 positions 5.41 -> 5.55). One token in one split (run 25, call 6, the 1.5B
    /// at 384 positions in a 512-wide graph): 1.132-1.134 ms as deep8, 1.189 with 4 warps, 1.282 with 4 warps and deep
    /// rings; at 128 positions (a 256-wide graph, 4 tiles) deep8 was 0.5-1% slower (calls 2 and 3; run 13: 1.16 -> 1.25
    /// ms with 4 warps).
    /// </summary>
    public static bool UsesDeep(int maxContext, int splits, int tokens) =>
        DeepMode switch
        {
            "1" => true,
            "0" => false,
            _ => splits > 1 ? Tiles(maxContext) / splits >= DeepFromWarpTiles : tokens == 1 && Tiles(maxContext) >= OneTokenDeepFromTiles,
        };

    /// <summary>A context's 64-key tiles (<see cref="SplitTile"/>), rounded up: what the split policy counts in.</summary>
    private static int Tiles(int maxContext) => (maxContext + SplitTile - 1) / SplitTile;

    private static readonly string? DeepMode = Environment.GetEnvironmentVariable("RS_CUDA_ATT_DEEP");

    /// <summary>
    /// Whether a deep launch takes decode_attention_deep8 (8 warps a block in the same 96 KB, two a scheduler): where its
    /// blocks fit one an SM, as one token's 2 KV heads in 64 splits do, and as <see cref="Splits"/> makes every deep
    /// launch's (RS_CUDA_ATT_DEEP8=0: never, and the splits of 1.5 blocks an SM). On the H200 (run 17,
    /// whole one-token steps, alternated on one machine) it took the 1.5B step at 16000 / 32000 positions from 1.478-1.480
    /// / 1.627-1.631 to 1.456-1.458 / 1.570-1.571 ms, though launched alone it was no faster (17.1-17.7 against 16.3-16.4 us
    /// over 32768 positions). Where a launch has more blocks than SMs (the 7B's 4 KV heads in 50 splits: 200) it would run
    /// in two waves (alone 30.0 against 27.3 us), so those keep 4 warps; run 18 found the 7B faster in 33 splits of
    /// deep8 than in 50 of 4 warps, hence the splits.
    /// </summary>
    public static bool UsesDeep8(int blocks, int multiprocessors) => Deep8 && blocks <= multiprocessors;

    private static readonly bool Deep8 = Environment.GetEnvironmentVariable("RS_CUDA_ATT_DEEP8") != "0";

    /// <summary>The 16-key tiles per warp of a split (its 64-key tiles) from which the deep rings pay (RS_CUDA_ATT_DEEP_FROM).</summary>
    public static readonly int DeepFromWarpTiles = PositiveFromEnvironment("RS_CUDA_ATT_DEEP_FROM", 4);

    /// <summary>attention_combine.cuh's MAX_SPLITS: the most splits the combine (and the partials' layout) takes.</summary>
    public const int MaxSplits = 128;

    /// <summary>The fewest 64-key tiles a split takes.</summary>
    public static readonly int MinTilesPerSplit = PositiveFromEnvironment("RS_CUDA_SPLIT_TILES", 1);

    /// <summary>Contexts of fewer tiles than this take one split: the combine launch costs more than the split saves.</summary>
    public static readonly int SplitFromTiles = PositiveFromEnvironment("RS_CUDA_SPLIT_FROM", 8);

    /// <summary>
    /// One-token steps keep one split below this many 64-key tiles (RS_CUDA_SPLIT_FROM_ONE_TOKEN; at least
    /// <see cref="SplitFromTiles"/>): up to a 512-wide graph, where their attention, as decode_attention_deep8
    /// (<see cref="OneTokenDeepFromTiles"/>), needs no combine launch and the 1.5B's step takes gemv_o_gate_up.cu. On the
    /// H200 (run 25, call 7, alternated twice; device ms a step, 8 splits against one): the 1.5B at 200 / 300 positions
    /// 1.134-1.135 / 1.140-1.141 against 1.089-1.091 / 1.106-1.107, the 7B 3.615-3.617 / 3.620-3.621 against 3.557-3.558 /
    /// 3.582-3.584 (call 6: the 1.5B at 384 positions 1.145-1.146 against 1.132-1.134). In a 1024-wide graph one split was
    /// as fast for the 1.5B at 450 positions (1.144-1.146 against 1.146-1.147) and slower from 600 on, and for the 7B slower
    /// from 450 on (3.629-3.630 against 3.597-3.598), so those keep their splits.
    /// </summary>
    public static readonly int OneTokenSplitFromTiles = Math.Max(SplitFromTiles, PositiveFromEnvironment("RS_CUDA_SPLIT_FROM_ONE_TOKEN", 9));

    /// <summary>
    /// One token's one split takes the deep rings from this many 64-key tiles of its graph's width
    /// (RS_CUDA_ATT_DEEP_ONE_TOKEN_FROM; see <see cref="UsesDeep"/>).
    /// </summary>
    public static readonly int OneTokenDeepFromTiles = PositiveFromEnvironment("RS_CUDA_ATT_DEEP_ONE_TOKEN_FROM", 8);

    /// <summary>The most splits of one (token, KV head) whatever the context.</summary>
    public static readonly int MaxDecodeSplits = Math.Min(MaxSplits, PositiveFromEnvironment("RS_CUDA_SPLIT_MAX", 32));

    /// <summary>Splits past <see cref="MaxDecodeSplits"/> only where each keeps this many tiles.</summary>
    public static readonly int LongSplitTiles = PositiveFromEnvironment("RS_CUDA_SPLIT_LONG_TILES", 4);

    /// <summary>The most splits of one (token, KV head) in a long context.</summary>
    public static readonly int MaxLongSplits = Math.Min(MaxSplits, PositiveFromEnvironment("RS_CUDA_SPLIT_LONG_MAX", 64));

    /// <summary>The blocks a split launch aims at, in percent of the multiprocessors.</summary>
    public static readonly int BlocksPercentOfSms = PositiveFromEnvironment("RS_CUDA_SPLIT_BLOCKS", 150);

    private static int PositiveFromEnvironment(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out int value) && value > 0 ? value : fallback;

    /// <param name="qRowStride">Elements between query rows; a multiple of 8 (rows are read in 16-byte chunks).</param>
    /// <param name="partials">At least <see cref="GqaAttention.PartialFloats"/> floats when <paramref name="splits"/> &gt; 1.</param>
    /// <param name="tokenList">Device ints naming the <paramref name="listed"/> tokens to attend for, or 0 for all <paramref name="tokens"/>.</param>
    /// <param name="early">decode_attention_early: the older keys are requested before the kernel waits for the one ahead of
    /// it. Only where every token attended for is its sequence's one new token (decode tokens).</param>
    /// <param name="deep">decode_attention_deep (<see cref="UsesDeep"/>), where the device gives it its shared memory.</param>
    /// <param name="multiprocessors">The device's SMs, for <see cref="UsesDeep8"/> (0: never).</param>
    public static void Launch(CudaKernels kernels, nint stream, ulong q, int qRowStride, ulong output, ulong partials, ulong kCache, ulong vCache,
        ulong blockTables, int maxBlocks, ulong tokenSeq, ulong tokenContext, int tokens, int heads, int kvHeads, int headDim, int blockSize, int splits,
        ulong tokenList = 0, int listed = 0, bool early = false, bool deep = false, int multiprocessors = 0)
    {
        if (!IsSupported(headDim, heads, kvHeads))
        {
            throw new NotSupportedException(
                $"decode_attention supports head_dim 64 or 128 with GQA groups of up to {MaxGroup}, not head_dim {headDim} with {heads}/{kvHeads} heads.");
        }
        if ((qRowStride & 7) != 0)
        {
            throw new ArgumentException($"query row stride {qRowStride} must be a multiple of 8.", nameof(qRowStride));
        }
        if (splits is < 1 or > MaxSplits)
        {
            throw new ArgumentOutOfRangeException(nameof(splits), splits, $"splits must be 1 to {MaxSplits}.");
        }
        int launched = tokenList == 0 ? tokens : listed;
        if (launched == 0)
        {
            return;
        }
        deep &= kernels.DeepDecodeAttention;
        bool deep8 = deep && UsesDeep8(launched * kvHeads * splits, multiprocessors);
        CudaKernel kernel = deep8 ? early ? kernels.DecodeAttentionDeep8Early : kernels.DecodeAttentionDeep8
            : deep ? early ? kernels.DecodeAttentionDeepEarly : kernels.DecodeAttentionDeep
            : early ? kernels.DecodeAttentionEarly : kernels.DecodeAttention;
        LaunchKernel(kernel, stream, q, qRowStride, output, partials, kCache, vCache, blockTables, maxBlocks, tokenSeq, tokenContext, tokens, heads,
            kvHeads, headDim, blockSize, splits, tokenList, launched, deep8 ? 256u : 128u, deep ? (uint)DeepSharedBytes : 0u);
        GqaAttention.Combine(kernels, stream, partials, output, tokens, heads, headDim, splits, tokenList, launched);
    }

    /// <summary>
    /// One of decode_attention.cu's kernels over the <paramref name="launched"/> tokens, without the combine: <see cref="Launch"/>'s
    /// choice, or another build of it (tools/cuda-check's attention-sweep). 128 threads a block, 256 for the 8-warp kernels.
    /// </summary>
    internal static void LaunchKernel(CudaKernel kernel, nint stream, ulong q, int qRowStride, ulong output, ulong partials, ulong kCache,
        ulong vCache, ulong blockTables, int maxBlocks, ulong tokenSeq, ulong tokenContext, int tokens, int heads, int kvHeads, int headDim,
        int blockSize, int splits, ulong tokenList, int launched, uint threads, uint sharedBytes)
    {
        float scale = 1f / MathF.Sqrt(headDim);
        (ulong partialOut, ulong partialMax, ulong partialSum) = GqaAttention.PartialParts(partials, tokens, heads, headDim, splits);
        void** args = stackalloc void*[]
        {
            &q, &qRowStride, &output, &partialOut, &partialMax, &partialSum, &kCache, &vCache, &blockTables, &maxBlocks, &tokenSeq, &tokenContext,
            &tokenList, &heads, &kvHeads, &headDim, &blockSize, &scale,
        };
        kernel.Launch(stream, (uint)launched, (uint)kvHeads, threads, args, sharedBytes, (uint)splits);
    }
}
