using System.Runtime.InteropServices;
using ReasoningServe.Inference.Backends.Cuda.Native;
using ReasoningServe.Inference.Model;

namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// decode_step.cu: a one-token step of one sequence, embedding to fp32 logits, in one persistent launch (one block per
/// multiprocessor, grid barriers between the phases, each thread streaming its weight rows through a shared-memory ring
/// across phases). Built per model: the shape is compiled in. The same arithmetic as the separate kernels with every
/// one-token GEMM in gemv.cu's wide layout, so its logits are theirs bit for bit (tools/cuda-check).
/// </summary>
internal sealed unsafe class DecodeStep : IDisposable
{
    private const int AttentionBytes = 49152; // decode_attention.cuh's ATT_SMEM_BYTES, which also holds the norm's row and the partial sums
    private const int ChunksPerSlot = Gemm.WideChunksPerThread; // decode_step.cu's CPT_MAX
    private const int MaxSlots = 8;
    private const int StaticBytes = 2048; // decode_step.cu's static shared memory (the step's inputs, its block table), with room to spare

    private readonly CudaKernel _kernel;
    private readonly nint _module;
    private readonly uint _blocks, _threads, _sharedBytes;
    private readonly DeviceBuffer _layers = new(), _sync = new(SyncBytes);
    private CudaKvCache? _tableFor;
    private DeviceBuffer? _timing;
    private int _timingCount;
    private const int SyncBytes = 4 * (64 + 64); // arrivals, generation, a ticket per KV head (up to 64)

    private DecodeStep(CudaKernel kernel, nint module, Plan plan, int blocks)
    {
        _kernel = kernel;
        _module = module;
        _blocks = (uint)blocks;
        _threads = (uint)plan.Threads;
        _sharedBytes = (uint)plan.SharedBytes;
    }

    /// <summary>The build's block size, ring depth and shared memory for a model on a device, and its wide group sizes.</summary>
    internal readonly record struct Plan(int Threads, int Slots, int SharedBytes, int HiddenThreads, int QThreads, int InterThreads);

    /// <summary>Why a model cannot take the persistent step on this device, or null when it can.</summary>
    public static string? WhyNot(ModelConfig c, CudaLayer[] layers, CudaDevice device)
    {
        if (device.ComputeCapability < 80)
        {
            return "it needs cp.async (sm_80 or later)";
        }
        foreach (CudaLayer layer in layers)
        {
            if (layer.QNorm is not null || layer.KNorm is not null || layer.OBias is not null || layer.GateUpBias is not null || layer.DownBias is not null)
            {
                return "it takes models without q/k norms and without o, gate_up or down biases";
            }
        }
        if (!DecodeAttention.IsSupported(c.HeadDim, c.NumHeads, c.NumKvHeads) || c.NumKvHeads > 64)
        {
            return $"decode_attention does not take head_dim {c.HeadDim} with {c.NumHeads}/{c.NumKvHeads} heads";
        }
        if (c.HiddenSize % 8 != 0 || c.IntermediateSize % 8 != 0 || c.QSize % 8 != 0 || c.HiddenSize > 8192)
        {
            return "hidden, intermediate and q sizes must be multiples of 8, hidden at most 8192 (rmsnorm.cu's register rows)";
        }
        return PlanFor(c, device.MaxSharedBytesPerBlock, device.MultiprocessorCount) is null
            ? "a block's ring, attention and partial sums do not fit its shared memory"
            : null;
    }

    /// <summary>The plan on a device whose blocks may have <paramref name="maxSharedBytes"/> of shared memory, with <paramref name="blocks"/> multiprocessors; null when it does not fit.</summary>
    internal static Plan? PlanFor(ModelConfig c, int maxSharedBytes, int blocks)
    {
        int hidden = Gemm.WideThreads(c.HiddenSize, ChunksPerSlot), q = Gemm.WideThreads(c.QSize, ChunksPerSlot);
        int inter = Gemm.WideThreads(c.IntermediateSize, ChunksPerSlot);
        if (Math.Max(hidden, Math.Max(q, inter)) > Gemm.WideMaxThreads)
        {
            return null;
        }
        // As many whole down-projection groups as fit 512 threads; the other projections' groups are smaller or equal.
        int threads = inter * (Gemm.WideMaxThreads / inter);
        if (hidden > threads || q > threads)
        {
            return null;
        }
        // The norm's row, block_sum's scratch, the qkv bias and each projection's partial sums share attention's bytes.
        long partialFloats = 0;
        foreach ((int rows, int groupThreads) in new[] { (c.QSize + 2 * c.KvSize, hidden), (c.HiddenSize, q), (2 * c.IntermediateSize, hidden),
            (c.HiddenSize, inter), (c.VocabSize, hidden) })
        {
            partialFloats = Math.Max(partialFloats, ((long)(rows + blocks - 1) / blocks + 2) * (groupThreads / 32));
        }
        if (2L * c.HiddenSize + 4 * 32 + 2L * (c.QSize + 2 * c.KvSize) + 4 * partialFloats > AttentionBytes)
        {
            return null;
        }
        int slotBytes = ChunksPerSlot * threads * 16;
        int slots = Math.Min(MaxSlots, (maxSharedBytes - AttentionBytes - StaticBytes) / slotBytes);
        return slots < 2 ? null : new Plan(threads, slots, AttentionBytes + slots * slotBytes, hidden, q, inter);
    }

    /// <summary>Compiles (or loads from the CUBIN cache) the model's build; throws NotSupportedException with the reason when it cannot run.</summary>
    public static DecodeStep Create(ModelConfig c, CudaLayer[] layers, CudaDevice device, bool programmatic)
    {
        if (WhyNot(c, layers, device) is { } why)
        {
            throw new NotSupportedException($"decode_step.cu: {why}.");
        }
        int blocks = device.MultiprocessorCount;
        Plan plan = PlanFor(c, device.MaxSharedBytesPerBlock, blocks)!.Value;
        string[] defines =
        [
            $"-DHIDDEN={c.HiddenSize}", $"-DINTER={c.IntermediateSize}", $"-DHEADS={c.NumHeads}", $"-DKV_HEADS={c.NumKvHeads}", $"-DHEAD_SIZE={c.HeadDim}",
            $"-DLAYERS={c.NumLayers}", $"-DVOCAB={c.VocabSize}", $"-DG_H={plan.HiddenThreads}", $"-DG_Q={plan.QThreads}", $"-DG_I={plan.InterThreads}",
            $"-DTHREADS={plan.Threads}", $"-DSLOTS={plan.Slots}",
            // experiments (tools/cuda-check): more macros (space- or comma-separated), or a macro above set again
            .. (Environment.GetEnvironmentVariable("RS_CUDA_STEP_DEFINES") ?? "").Split([' ', ','], StringSplitOptions.RemoveEmptyEntries),
        ];
        byte[] cubin = new KernelCompiler(device.ComputeCapability, KernelCompiler.DefaultCacheDirectory()).Compile("decode_step.cu", defines);
        CudaDriver.Check(CudaKernels.LoadModule(cubin, out nint module), "cuModuleLoadData(decode_step.cu)");
        CudaKernel kernel = CudaKernels.Function(module, "decode_step", programmatic);
        kernel.AllowDynamicSharedBytes(plan.SharedBytes);
        if (kernel.MaxActiveBlocksPerMultiprocessor(plan.Threads, plan.SharedBytes) < 1)
        {
            CudaDriver.cuModuleUnload(module);
            throw new NotSupportedException($"decode_step.cu: a block of {plan.Threads} threads and {plan.SharedBytes} bytes does not fit a multiprocessor.");
        }
        return new DecodeStep(kernel, module, plan, blocks);
    }

    /// <summary>decode_step.cu's StepArgs, field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Args
    {
        public ulong Layers, Embed, LmHead, FinalNorm;
        public ulong TokenIds, Positions, Slots, BlockTables, TokenSeq, TokenContext;
        public ulong InvFreq;
        public ulong Residual0, Residual1, Delta, Qkv, Attn, GateUp;
        public ulong Logits, PartialOut, PartialMax, PartialSum;
        public ulong Sync;
        public ulong Timing;
        public int MaxBlocks, BlockSize, Splits;
        public float Eps, Scale;
    }

    /// <summary>
    /// Queues the step. <paramref name="args"/> has every buffer but the layer table and the barrier counters, which this
    /// fills in; the table is (re)built when the cache is another one (outside a capture: the first step of a shape runs eagerly).
    /// </summary>
    public void Launch(nint stream, CudaDevice device, CudaLayer[] layers, CudaKvCache cache, Args args)
    {
        if (!ReferenceEquals(cache, _tableFor))
        {
            device.Synchronize(); // a running step may still read the old table
            UploadTable(layers, cache);
            _tableFor = cache;
        }
        args.Layers = _layers.Pointer;
        args.Sync = _sync.Pointer;
        args.Timing = _timing?.Pointer ?? 0;
        // the barriers count arrivals from zero in each launch (a memset node in a captured step)
        CudaDriver.Check(CudaDriver.cuMemsetD8Async(_sync.Pointer, 0, SyncBytes, stream), "cuMemsetD8Async(decode_step sync)");
        void** arguments = stackalloc void*[] { &args };
        _kernel.Launch(stream, _blocks, 1, _threads, arguments, _sharedBytes);
    }

    /// <summary>
    /// Has every later launch record block 0's SM clock at each phase boundary (LAYER_EVENTS per layer, then the end, the
    /// start, and the global timer at start and end), for <see cref="ReadTiming"/>; tools/cuda-check's profile.
    /// </summary>
    internal void RecordTiming(int layers)
    {
        _timing ??= new DeviceBuffer(8L * (layers * LayerEvents + 4));
        _timingCount = layers * LayerEvents + 4;
    }

    internal const int LayerEvents = 12; // decode_step.cu's LAYER_EVENTS

    /// <summary>The last launch's clocks (after the stream is synchronized).</summary>
    internal ulong[] ReadTiming()
    {
        var values = new ulong[_timingCount];
        fixed (ulong* target = values)
        {
            CudaDriver.Check(CudaDriver.cuMemcpyDtoH(target, _timing!.Pointer, (nuint)(values.Length * 8)), "cuMemcpyDtoH(decode_step timing)");
        }
        return values;
    }

    /// <summary>decode_step.cu's LayerWeights per layer: qkv, qkv bias, o, gate_up, down, the two norms, the layer's K and V cache.</summary>
    private void UploadTable(CudaLayer[] layers, CudaKvCache cache)
    {
        const int fields = 9;
        var table = new ulong[layers.Length * fields];
        for (int l = 0; l < layers.Length; l++)
        {
            CudaLayer layer = layers[l];
            ulong[] row = [layer.Qkv.Pointer, layer.QkvBias?.Pointer ?? 0, layer.O.Pointer, layer.GateUp.Pointer, layer.Down.Pointer,
                layer.InputNorm.Pointer, layer.PostAttentionNorm.Pointer, cache.K(l), cache.V(l)];
            row.CopyTo(table, l * fields);
        }
        _layers.EnsureCapacity(table.Length * 8L);
        fixed (ulong* source = table)
        {
            CudaDriver.Check(CudaDriver.cuMemcpyHtoD(_layers.Pointer, source, (nuint)(table.Length * 8)), "cuMemcpyHtoD(decode_step layers)");
        }
    }

    public void Dispose()
    {
        _layers.Dispose();
        _sync.Dispose();
        _timing?.Dispose();
        CudaDriver.cuModuleUnload(_module);
    }
}
