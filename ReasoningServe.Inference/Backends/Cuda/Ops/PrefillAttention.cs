namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// Causal GQA attention of new tokens over their paged context on tensor cores (prefill_attention.cu), the same
/// result as <see cref="PagedAttention"/>. Work is split in query tiles of at most <see cref="TileTokens"/>
/// consecutive tokens of one sequence (<see cref="BuildTiles"/>); per token the caller gives its sequence and how many
/// context positions it sees, as for <see cref="PagedAttention"/>.
/// </summary>
internal static unsafe class PrefillAttention
{
    public const int TileTokens = 64;

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
    public static void Launch(CudaKernels kernels, nint stream, ulong q, int qRowStride, ulong output, ulong kCache, ulong vCache,
        ulong blockTables, int maxBlocks, ulong tokenSeq, ulong tokenContext, ulong tileFirst, ulong tileCount, int tiles,
        int heads, int kvHeads, int headDim, int blockSize)
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
        float scale = 1f / MathF.Sqrt(headDim);
        void** args = stackalloc void*[]
        {
            &q, &qRowStride, &output, &kCache, &vCache, &blockTables, &maxBlocks, &tokenSeq, &tokenContext, &tileFirst, &tileCount,
            &heads, &kvHeads, &headDim, &blockSize, &scale,
        };
        // x = head, y = tile: the heads of one tile (sharing K/V through L2) run together.
        kernels.PrefillAttention.Launch(stream, (uint)heads, (uint)tiles, 128, args);
    }
}
