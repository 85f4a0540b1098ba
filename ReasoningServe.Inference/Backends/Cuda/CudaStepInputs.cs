using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// A step's integer inputs packed into one pinned block and sent in one copy: token ids, positions, slots, per token
/// its sequence and visible context length, per sequence the index of its last token, and the block tables padded to
/// the longest ([seqs, MaxBlocks]).
/// </summary>
internal sealed unsafe class CudaStepInputs : IDisposable
{
    private readonly PinnedBuffer _host = new();
    private readonly DeviceBuffer _device = new();

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

    /// <summary>Validates the batch like the CPU backend, packs it and queues the copy on <paramref name="stream"/>.</summary>
    public void Upload(ForwardBatch batch, CudaKvCache cache, CudaDevice device)
    {
        int tokens = batch.NumTokens, seqs = batch.NumSeqs;
        if (batch.Positions.Length != tokens || batch.SlotMapping.Length != tokens || batch.QueryStart.Length != seqs + 1
            || batch.ContextLens.Length != seqs || batch.BlockTables.Length != seqs || batch.QueryStart[0] != 0 || batch.QueryStart[seqs] != tokens)
        {
            throw new ArgumentException("ForwardBatch arrays disagree on the number of tokens or sequences.", nameof(batch));
        }
        int maxBlocks = 1, maxContext = 0;
        for (int s = 0; s < seqs; s++)
        {
            maxBlocks = Math.Max(maxBlocks, batch.BlockTables[s].Length);
        }
        long ints = 5L * tokens + seqs + (long)seqs * maxBlocks;
        if (ints * 4 > _host.Bytes)
        {
            device.Synchronize();
            _host.EnsureCapacity(ints * 4 * 2);
            _device.EnsureCapacity(ints * 4 * 2);
        }
        Tokens = tokens;
        Seqs = seqs;
        MaxBlocks = maxBlocks;
        var all = new Span<int>(_host.Pointer, (int)ints);
        batch.TokenIds.CopyTo(all);
        batch.Positions.CopyTo(all[tokens..]);
        batch.SlotMapping.CopyTo(all[(2 * tokens)..]);
        Span<int> tokenSeq = all.Slice(3 * tokens, tokens), tokenContext = all.Slice(4 * tokens, tokens);
        Span<int> last = all.Slice(5 * tokens, seqs), tables = all[(5 * tokens + seqs)..];
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
        MaxContext = maxContext;
        CudaDriver.Check(CudaDriver.cuMemcpyHtoDAsync(_device.Pointer, _host.Pointer, (nuint)(ints * 4), device.Stream), "cuMemcpyHtoDAsync(step inputs)");
    }

    public void Dispose()
    {
        _host.Dispose();
        _device.Dispose();
    }
}
