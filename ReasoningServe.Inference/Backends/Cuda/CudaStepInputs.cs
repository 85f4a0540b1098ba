using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// A step's integer inputs packed into one pinned block and sent in one copy: token ids, positions, slots, per token
/// its sequence and visible context length, per sequence the index of its last token, and the block tables
/// ([seqs, MaxBlocks], padded with block 0); optionally the prefill query tiles for prefill_attention (sequences with more
/// than one new token, cut in tiles of 64) and the list of the remaining (decode) tokens for gqa_attention.
/// A decode batch may be padded to more sequences and a wider table than it has, so that a CUDA graph captured for
/// that shape can replay it: a padding sequence decodes token 0 at position 0 into slot -1 (never written) and sees
/// one position of block 0 (read, never used).
/// </summary>
internal sealed unsafe class CudaStepInputs : IDisposable
{
    private readonly PinnedBuffer _host = new();
    private readonly DeviceBuffer _device = new();
    private long _ints;

    public int Tokens { get; private set; }
    public int Seqs { get; private set; }
    public int MaxBlocks { get; private set; }
    public int MaxContext { get; private set; }

    public ulong TokenIds => _device.At(0);
    public ulong Positions => _device.At(4L * Tokens);
    public ulong Slots => _device.At(8L * Tokens);
    public ulong TokenSeq => _device.At(12L * Tokens);
    public ulong TokenContext => _device.At(16L * Tokens);
    public ulong LastTokens => _device.At(20L * Tokens);
    public ulong BlockTables => _device.At(20L * Tokens + 4L * Seqs);

    /// <summary>Prefill query tiles packed by <see cref="Pack"/> with tiling on (0 otherwise).</summary>
    public int Tiles { get; private set; }
    public int DecodeTokenCount { get; private set; }
    public ulong TileFirst => _device.At(TilesOffset);
    public ulong TileCount => _device.At(TilesOffset + 4L * _maxTiles);
    public ulong DecodeTokens => _device.At(TilesOffset + 8L * _maxTiles);

    private long TilesOffset => 20L * Tokens + 4L * Seqs + 4L * Seqs * MaxBlocks;
    private int _maxTiles;

    /// <summary>Validates the batch like the CPU backend, packs it and queues the copy on the device's stream.</summary>
    public void Upload(ForwardBatch batch, CudaKvCache cache, CudaDevice device, bool tilePrefill = false)
    {
        Pack(batch, cache, device, batch.NumSeqs, 0, tilePrefill);
        CopyToDevice(device.Stream);
    }

    /// <summary>Queues the copy of the packed inputs (inside a graph capture it becomes the graph's first node).</summary>
    public void CopyToDevice(nint stream) =>
        CudaDriver.Check(CudaDriver.cuMemcpyHtoDAsync(_device.Pointer, _host.Pointer, (nuint)(_ints * 4), stream), "cuMemcpyHtoDAsync(step inputs)");

    /// <summary>
    /// Validates and packs the batch into the pinned block. <paramref name="paddedSeqs"/> above the batch's own count
    /// (decode batches only) adds padding sequences; <paramref name="width"/> fixes the block-table row length (0: the
    /// longest table). With <paramref name="tilePrefill"/> it also packs the prefill tiles and the decode-token list.
    /// The buffers grow when needed, after waiting for the device.
    /// </summary>
    public void Pack(ForwardBatch batch, CudaKvCache cache, CudaDevice device, int paddedSeqs, int width, bool tilePrefill = false)
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
        int maxBlocks = 1, maxContext = 0;
        for (int s = 0; s < seqs; s++)
        {
            maxBlocks = Math.Max(maxBlocks, batch.BlockTables[s].Length);
        }
        if (width > 0)
        {
            if (width < maxBlocks)
            {
                throw new ArgumentException($"block tables of {maxBlocks} blocks do not fit rows of {width}.", nameof(width));
            }
            maxBlocks = width;
        }
        int paddedTokens = tokens + paddedSeqs - seqs;
        int maxTiles = tilePrefill ? Ops.PrefillAttention.MaxTiles(tokens, seqs) : 0;
        long ints = 5L * paddedTokens + paddedSeqs + (long)paddedSeqs * maxBlocks + (tilePrefill ? 2L * maxTiles + seqs : 0);
        if (ints * 4 > _host.Bytes)
        {
            device.Synchronize();
            _host.EnsureCapacity(ints * 4 * 2);
            _device.EnsureCapacity(ints * 4 * 2);
        }
        _ints = ints;
        Tokens = paddedTokens;
        Seqs = paddedSeqs;
        MaxBlocks = maxBlocks;
        _maxTiles = maxTiles;
        Tiles = 0;
        DecodeTokenCount = 0;
        var all = new Span<int>(_host.Pointer, (int)ints);
        Span<int> ids = all[..paddedTokens], positions = all.Slice(paddedTokens, paddedTokens), slots = all.Slice(2 * paddedTokens, paddedTokens);
        Span<int> tokenSeq = all.Slice(3 * paddedTokens, paddedTokens), tokenContext = all.Slice(4 * paddedTokens, paddedTokens);
        Span<int> last = all.Slice(5 * paddedTokens, paddedSeqs), tables = all.Slice(5 * paddedTokens + paddedSeqs, paddedSeqs * maxBlocks);
        Span<int> tileFirst = all.Slice((int)(TilesOffset / 4), maxTiles), tileCount = all.Slice((int)(TilesOffset / 4) + maxTiles, maxTiles);
        Span<int> decodeTokens = all.Slice((int)(TilesOffset / 4) + 2 * maxTiles, tilePrefill ? seqs : 0);
        batch.TokenIds.CopyTo(ids);
        batch.Positions.CopyTo(positions);
        batch.SlotMapping.CopyTo(slots);
        for (int t = 0; t < tokens; t++)
        {
            if ((uint)batch.SlotMapping[t] >= cache.TotalSlots)
            {
                throw new ArgumentOutOfRangeException(nameof(batch), $"slot {batch.SlotMapping[t]} is outside the KV cache of {cache.TotalSlots} slots.");
            }
        }
        for (int s = 0; s < seqs; s++)
        {
            int start = batch.QueryStart[s], end = batch.QueryStart[s + 1];
            int queryLength = end - start, context = batch.ContextLens[s];
            int[] table = batch.BlockTables[s];
            if (queryLength <= 0 || context < queryLength)
            {
                throw new ArgumentException($"sequence {s}: {queryLength} new tokens with context length {context}.", nameof(batch));
            }
            if ((long)table.Length * cache.BlockSize < context)
            {
                throw new ArgumentException($"sequence {s}: {table.Length} blocks cannot hold {context} tokens.", nameof(batch));
            }
            for (int t = start; t < end; t++)
            {
                tokenSeq[t] = s;
                tokenContext[t] = context - queryLength + (t - start) + 1;
            }
            last[s] = end - 1;
            if (tilePrefill)
            {
                if (queryLength == 1)
                {
                    decodeTokens[DecodeTokenCount++] = start;
                }
                else
                {
                    for (int first = start; first < end; first += Ops.PrefillAttention.TileTokens)
                    {
                        tileFirst[Tiles] = first;
                        tileCount[Tiles++] = Math.Min(Ops.PrefillAttention.TileTokens, end - first);
                    }
                }
            }
            Span<int> row = tables.Slice(s * maxBlocks, maxBlocks);
            for (int b = 0; b < table.Length; b++)
            {
                if ((uint)table[b] >= (uint)cache.NumBlocks)
                {
                    throw new ArgumentException($"sequence {s}: block {table[b]} is outside the KV cache of {cache.NumBlocks} blocks.", nameof(batch));
                }
                row[b] = table[b];
            }
            row[table.Length..].Clear();
            maxContext = Math.Max(maxContext, context);
        }
        for (int s = seqs; s < paddedSeqs; s++)
        {
            ids[s] = 0;
            positions[s] = 0;
            slots[s] = -1;
            tokenSeq[s] = s;
            tokenContext[s] = 1;
            last[s] = s;
            tables.Slice(s * maxBlocks, maxBlocks).Clear();
        }
        MaxContext = maxContext;
    }

    public void Dispose()
    {
        _host.Dispose();
        _device.Dispose();
    }
}
