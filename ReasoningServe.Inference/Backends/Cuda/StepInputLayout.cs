namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// How a step's integer inputs lie in one block of ints (in this order): token ids, positions, slots, per token its
/// sequence and visible context length [Tokens each]; per sequence its last token [Seqs]; the block tables
/// [Seqs, MaxBlocks], padded with block 0; then, when prefill tiling is on, the prefill query tiles' first tokens and
/// token counts [MaxTiles each] and the decode tokens [DecodeCapacity].
/// <see cref="Pack"/> fills it from a <see cref="ForwardBatch"/> and validates the batch against the KV cache, on the
/// CPU (no GPU needed, so it is unit-tested everywhere); <see cref="CudaStepInputs"/> sends the block in one copy.
/// A decode batch may be padded to more sequences and a wider table than it has, so that a CUDA graph captured for
/// that shape can replay it: a padding sequence decodes token 0 at position 0 into slot -1 (never written) and sees
/// one position of block 0 (read, never used).
/// </summary>
internal readonly record struct StepInputLayout(int Tokens, int Seqs, int MaxBlocks, int MaxTiles, int DecodeCapacity)
{
    public long Ints => 5L * Tokens + Seqs + (long)Seqs * MaxBlocks + 2L * MaxTiles + DecodeCapacity;

    public long TokenIds => 0;
    public long Positions => Tokens;
    public long Slots => 2L * Tokens;
    public long TokenSeq => 3L * Tokens;
    public long TokenContext => 4L * Tokens;
    public long LastTokens => 5L * Tokens;
    public long BlockTables => 5L * Tokens + Seqs;
    public long TileFirst => BlockTables + (long)Seqs * MaxBlocks;
    public long TileCount => TileFirst + MaxTiles;
    public long DecodeTokens => TileCount + MaxTiles;

    /// <summary>
    /// The layout for <paramref name="batch"/> padded to <paramref name="paddedSeqs"/> sequences (decode batches only)
    /// with block-table rows of <paramref name="width"/> (0: the longest table).
    /// </summary>
    public static StepInputLayout For(ForwardBatch batch, int paddedSeqs, int width, bool tilePrefill)
    {
        int tokens = batch.NumTokens, seqs = batch.NumSeqs;
        if (batch.Positions.Length != tokens || batch.SlotMapping.Length != tokens || batch.QueryStart.Length != seqs + 1
            || batch.ContextLens.Length != seqs || batch.BlockTables.Length != seqs || batch.QueryStart[0] != 0 || batch.QueryStart[seqs] != tokens)
        {
            throw new ArgumentException("ForwardBatch arrays disagree on the number of tokens or sequences.", nameof(batch));
        }
        if (paddedSeqs < seqs || (paddedSeqs > seqs && tokens != seqs))
        {
            throw new ArgumentException($"only a decode batch can be padded ({tokens} tokens, {seqs} sequences to {paddedSeqs}).", nameof(paddedSeqs));
        }
        int maxBlocks = LongestTable(batch);
        if (width > 0)
        {
            if (width < maxBlocks)
            {
                throw new ArgumentException($"block tables of {maxBlocks} blocks do not fit rows of {width}.", nameof(width));
            }
            maxBlocks = width;
        }
        int maxTiles = tilePrefill ? Ops.PrefillAttention.MaxTiles(tokens, seqs) : 0;
        return new StepInputLayout(tokens + paddedSeqs - seqs, paddedSeqs, maxBlocks, maxTiles, tilePrefill ? seqs : 0);
    }

    /// <summary>The longest block table of the batch (at least 1).</summary>
    public static int LongestTable(ForwardBatch batch)
    {
        int longest = 1;
        foreach (int[] table in batch.BlockTables)
        {
            longest = Math.Max(longest, table.Length);
        }
        return longest;
    }

    /// <summary>
    /// Validates <paramref name="batch"/> against a cache of <paramref name="numBlocks"/> blocks of
    /// <paramref name="blockSize"/> and writes it into <paramref name="destination"/> (<see cref="Ints"/> long).
    /// </summary>
    /// <returns>The longest context, the number of prefill tiles and of decode tokens written.</returns>
    public (int MaxContext, int Tiles, int DecodeTokens) Pack(ForwardBatch batch, int numBlocks, int blockSize, Span<int> destination)
    {
        int tokens = batch.NumTokens, seqs = batch.NumSeqs;
        Span<int> ids = Slice(destination, TokenIds, Tokens), positions = Slice(destination, Positions, Tokens);
        Span<int> slots = Slice(destination, Slots, Tokens), tokenSeq = Slice(destination, TokenSeq, Tokens);
        Span<int> tokenContext = Slice(destination, TokenContext, Tokens), last = Slice(destination, LastTokens, Seqs);
        Span<int> tables = Slice(destination, BlockTables, Seqs * MaxBlocks);
        Span<int> tileFirst = Slice(destination, TileFirst, MaxTiles), tileCount = Slice(destination, TileCount, MaxTiles);
        Span<int> decodeTokens = Slice(destination, DecodeTokens, DecodeCapacity);
        batch.TokenIds.CopyTo(ids);
        batch.Positions.CopyTo(positions);
        batch.SlotMapping.CopyTo(slots);
        long totalSlots = (long)numBlocks * blockSize;
        for (int t = 0; t < tokens; t++)
        {
            if ((uint)batch.SlotMapping[t] >= totalSlots)
            {
                throw new ArgumentOutOfRangeException(nameof(batch), $"slot {batch.SlotMapping[t]} is outside the KV cache of {totalSlots} slots.");
            }
        }
        int maxContext = 0, tiles = 0, decode = 0;
        for (int s = 0; s < seqs; s++)
        {
            int start = batch.QueryStart[s], end = batch.QueryStart[s + 1];
            int queryLength = end - start, context = batch.ContextLens[s];
            int[] table = batch.BlockTables[s];
            if (queryLength <= 0 || context < queryLength)
            {
                throw new ArgumentException($"sequence {s}: {queryLength} new tokens with context length {context}.", nameof(batch));
            }
            if ((long)table.Length * blockSize < context)
            {
                throw new ArgumentException($"sequence {s}: {table.Length} blocks cannot hold {context} tokens.", nameof(batch));
            }
            for (int t = start; t < end; t++)
            {
                tokenSeq[t] = s;
                tokenContext[t] = context - queryLength + (t - start) + 1;
            }
            last[s] = end - 1;
            if (DecodeCapacity > 0 && queryLength == 1)
            {
                decodeTokens[decode++] = start;
            }
            else if (MaxTiles > 0)
            {
                Ops.PrefillAttention.AddTiles(start, end, tileFirst, tileCount, ref tiles);
            }
            Span<int> row = tables.Slice(s * MaxBlocks, MaxBlocks);
            for (int b = 0; b < table.Length; b++)
            {
                if ((uint)table[b] >= (uint)numBlocks)
                {
                    throw new ArgumentException($"sequence {s}: block {table[b]} is outside the KV cache of {numBlocks} blocks.", nameof(batch));
                }
                row[b] = table[b];
            }
            row[table.Length..].Clear();
            maxContext = Math.Max(maxContext, context);
        }
        for (int s = seqs; s < Seqs; s++)
        {
            ids[s] = 0;
            positions[s] = 0;
            slots[s] = -1;
            tokenSeq[s] = s;
            tokenContext[s] = 1;
            last[s] = s;
            tables.Slice(s * MaxBlocks, MaxBlocks).Clear();
        }
        return (maxContext, tiles, decode);
    }

    private static Span<int> Slice(Span<int> all, long offset, int length) => all.Slice((int)offset, length);
}
