namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// Causal GQA attention of new tokens over their paged context on tensor cores (prefill_attention.cu), the same
/// result as <see cref="PagedAttention"/>. Work is split in query tiles of at most <see cref="TileTokens"/>
/// consecutive tokens of one sequence (<see cref="BuildTiles"/>); per token the caller gives its sequence and how many
/// context positions it sees, as for <see cref="PagedAttention"/>. Both kernels of the file take these tiles:
/// prefill_attention_pipelined (two query heads of a KV group a block, a cp.async ring of key tiles) by default,
/// prefill_attention (one head a block) where that one cannot run or RS_CUDA_PREFILL_PIPELINED=0.
/// </summary>
internal static unsafe class PrefillAttention
{
    public const int TileTokens = 64;

    /// <summary>
    /// prefill_attention_pipelined's dynamic shared memory per element of head_dim (prefill_attention.cu's
    /// PIPE_SMEM_BYTES_PER_DIM): two heads' Q tiles and two stages of K and V tiles, 64 rows of bf16 each.
    /// </summary>
    public const int PipelinedSharedBytesPerDim = 768;

    /// <summary>The dynamic shared memory a prefill_attention_pipelined launch asks for (96 KB at head_dim 128).</summary>
    public static int PipelinedSharedBytes(int headDim) => PipelinedSharedBytesPerDim * headDim;

    /// <summary>The query heads one prefill_attention_pipelined block takes (PIPE_HEADS): a group's odd last head takes one alone.</summary>
    public const int PipelinedHeads = 2;

    /// <summary>RS_CUDA_PREFILL_PIPELINED=0 keeps prefill_attention where prefill_attention_pipelined could run.</summary>
    public static readonly bool PreferPipelined = Environment.GetEnvironmentVariable("RS_CUDA_PREFILL_PIPELINED") != "0";

    /// <summary>
    /// Whether prefill_attention_pipelined can take this launch: loaded with its shared memory, whole GQA groups, and
    /// q rows it copies in 16-byte chunks (a 16-byte aligned start and a row stride of a multiple of 8 elements).
    /// </summary>
    public static bool CanPipeline(CudaKernels kernels, ulong q, int qRowStride, int heads, int kvHeads) =>
        kernels.PipelinedPrefillAttention && kvHeads > 0 && heads % kvHeads == 0 && q % 16 == 0 && qRowStride % 8 == 0;

    /// <summary>
    /// Whether prefill_attention_pipelined's grid (half the blocks of prefill_attention's) keeps two blocks on every
    /// multiprocessor: on the H200 (run 14) a 7B prefill of 2048 tokens (512 blocks) took its attention from 6.20 to 4.81 ms,
    /// while the 1.5B's (2 KV heads: 192 blocks) went from 3.05 to 3.18 ms.
    /// </summary>
    public static bool FillsGpu(int tiles, int heads, int kvHeads, int multiprocessors) =>
        (long)PipelinedBlocksPerTile(heads, kvHeads) * tiles >= 2L * multiprocessors;

    /// <summary>prefill_attention_pipelined's grid x: each KV group's heads in pairs (an odd last one alone).</summary>
    private static int PipelinedBlocksPerTile(int heads, int kvHeads) => kvHeads * ((heads / kvHeads + PipelinedHeads - 1) / PipelinedHeads);

    /// <summary>The kernel is instantiated for these head sizes only.</summary>
    public static bool IsSupported(int headDim) => headDim is 64 or 128;

    /// <summary>An upper bound on <see cref="BuildTiles"/>'s count, to size the tile arrays.</summary>
    public static int MaxTiles(int tokens, int seqs) => tokens / TileTokens + seqs;

    /// <summary>
    /// Splits each sequence's new tokens [queryStart[s], queryStart[s + 1]) into tiles of at most
    /// <see cref="TileTokens"/> that never cross a sequence; writes each tile's first token and token count.
    /// </summary>
    /// <returns>The number of tiles written.</returns>
    public static int BuildTiles(ReadOnlySpan<int> queryStart, Span<int> tileFirst, Span<int> tileCount)
    {
        int tiles = 0;
        for (int s = 0; s + 1 < queryStart.Length; s++)
        {
            AddTiles(queryStart[s], queryStart[s + 1], tileFirst, tileCount, ref tiles);
        }
        return tiles;
    }

    /// <summary>Appends the tiles of one sequence's new tokens [<paramref name="first"/>, <paramref name="end"/>).</summary>
    public static void AddTiles(int first, int end, Span<int> tileFirst, Span<int> tileCount, ref int tiles)
    {
        for (; first < end; first += TileTokens)
        {
            tileFirst[tiles] = first;
            tileCount[tiles] = Math.Min(TileTokens, end - first);
            tiles++;
        }
    }

    /// <param name="qRowStride">Elements between query rows; must be even (rows are read as bf16 pairs).</param>
    /// <param name="output">[tokens, heads * headDim] bf16.</param>
    /// <param name="tileFirst">Device ints from <see cref="BuildTiles"/>.</param>
    /// <param name="tileCount">Device ints from <see cref="BuildTiles"/>.</param>
    /// <param name="pipelined">prefill_attention_pipelined (true) or prefill_attention (false); by default the former
    /// where it can run (<see cref="CanPipeline"/>) and fills the GPU (<see cref="FillsGpu"/>) unless
    /// RS_CUDA_PREFILL_PIPELINED=0.</param>
    /// <param name="multiprocessors">The device's multiprocessors, for <see cref="FillsGpu"/> (0: not asked).</param>
    public static void Launch(CudaKernels kernels, nint stream, ulong q, int qRowStride, ulong output, ulong kCache, ulong vCache,
        ulong blockTables, int maxBlocks, ulong tokenSeq, ulong tokenContext, ulong tileFirst, ulong tileCount, int tiles,
        int heads, int kvHeads, int headDim, int blockSize, bool? pipelined = null, int multiprocessors = 0)
    {
        if (!IsSupported(headDim))
        {
            throw new NotSupportedException($"prefill_attention supports head_dim 64 and 128, not {headDim}.");
        }
        if ((qRowStride & 1) != 0)
        {
            throw new ArgumentException($"query row stride {qRowStride} must be even.", nameof(qRowStride));
        }
        if (tiles == 0)
        {
            return;
        }
        if (tiles > 65535)
        {
            throw new NotSupportedException($"{tiles} query tiles exceed the grid's 65535 rows.");
        }
        bool canPipeline = CanPipeline(kernels, q, qRowStride, heads, kvHeads);
        if (pipelined == true && !canPipeline)
        {
            throw new NotSupportedException(
                $"prefill_attention_pipelined cannot take this launch (loaded: {kernels.PipelinedPrefillAttention}, {heads}/{kvHeads} heads, q row stride {qRowStride}).");
        }
        bool usePipelined = pipelined ?? (PreferPipelined && canPipeline && FillsGpu(tiles, heads, kvHeads, multiprocessors));
        float scale = 1f / MathF.Sqrt(headDim);
        void** args = stackalloc void*[]
        {
            &q, &qRowStride, &output, &kCache, &vCache, &blockTables, &maxBlocks, &tokenSeq, &tokenContext, &tileFirst, &tileCount,
            &heads, &kvHeads, &headDim, &blockSize, &scale,
        };
        // y = tile; x = head, or the head pairs of each KV group in order: the heads of one tile (sharing K/V through
        // L2) run together.
        if (usePipelined)
        {
            kernels.PrefillAttentionPipelined.Launch(stream, (uint)PipelinedBlocksPerTile(heads, kvHeads), (uint)tiles, 128, args, (uint)PipelinedSharedBytes(headDim));
        }
        else
        {
            kernels.PrefillAttention.Launch(stream, (uint)heads, (uint)tiles, 128, args);
        }
    }
}
