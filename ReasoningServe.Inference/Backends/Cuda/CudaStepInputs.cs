using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// A step's integer inputs (<see cref="StepInputLayout"/>) in one pinned block, sent to the device in one copy; the
/// pointers below address the device copy.
/// </summary>
internal sealed unsafe class CudaStepInputs : IDisposable
{
    private readonly PinnedBuffer _host = new();
    private readonly DeviceBuffer _device = new();
    private StepInputLayout _layout;

    public int Tokens => _layout.Tokens;
    public int Seqs => _layout.Seqs;
    public int MaxBlocks => _layout.MaxBlocks;
    public int MaxContext { get; private set; }
    /// <summary>Prefill query tiles packed (0 unless tiling was asked for and the batch has prefill chunks).</summary>
    public int Tiles { get; private set; }
    public int DecodeTokenCount { get; private set; }

    public ulong TokenIds => At(_layout.TokenIds);
    public ulong Positions => At(_layout.Positions);
    public ulong Slots => At(_layout.Slots);
    public ulong TokenSeq => At(_layout.TokenSeq);
    public ulong TokenContext => At(_layout.TokenContext);
    public ulong LastTokens => At(_layout.LastTokens);
    public ulong BlockTables => At(_layout.BlockTables);
    public ulong TileFirst => At(_layout.TileFirst);
    public ulong TileCount => At(_layout.TileCount);
    public ulong DecodeTokens => At(_layout.DecodeTokens);

    /// <summary>Validates the batch like the CPU backend, packs it and queues the copy on the device's stream.</summary>
    public void Upload(ForwardBatch batch, CudaKvCache cache, CudaDevice device, bool tilePrefill = false)
    {
        Pack(batch, cache, device, batch.NumSeqs, 0, tilePrefill);
        CopyToDevice(device.Stream);
    }

    /// <summary>Queues the copy of the packed inputs (inside a graph capture it becomes the graph's first node).</summary>
    public void CopyToDevice(nint stream) =>
        CudaDriver.Check(CudaDriver.cuMemcpyHtoDAsync(_device.Pointer, _host.Pointer, (nuint)(_layout.Ints * 4), stream), "cuMemcpyHtoDAsync(step inputs)");

    /// <summary>
    /// Packs the batch (see <see cref="StepInputLayout.For"/> for the padding and tiling) into the pinned block, which grows
    /// when needed after waiting for the device. A graph's own inputs are packed with the same shape every step, so their
    /// block never moves.
    /// </summary>
    public void Pack(ForwardBatch batch, CudaKvCache cache, CudaDevice device, int paddedSeqs, int width, bool tilePrefill = false)
    {
        StepInputLayout layout = StepInputLayout.For(batch, paddedSeqs, width, tilePrefill);
        long bytes = layout.Ints * 4;
        if (bytes > _host.Bytes)
        {
            device.Synchronize();
            _host.EnsureCapacity(bytes * 2);
            _device.EnsureCapacity(bytes * 2);
        }
        _layout = layout;
        (MaxContext, Tiles, DecodeTokenCount) = layout.Pack(batch, cache.NumBlocks, cache.BlockSize, new Span<int>(_host.Pointer, (int)layout.Ints));
    }

    private ulong At(long ints) => _device.At(4 * ints);

    public void Dispose()
    {
        _host.Dispose();
        _device.Dispose();
    }
}
