using System.Numerics;
using ReasoningServe.Inference.Backends.Cpu.Ops;
using ReasoningServe.Inference.Backends.Cuda.Native;
using ReasoningServe.Inference.Model;
using CudaOps = ReasoningServe.Inference.Backends.Cuda.Ops;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// The decoder (Qwen2 / Qwen3 / Llama) on one NVIDIA GPU: bf16 weights and activations, fp32 accumulation and norm
/// statistics, the same step as <see cref="Cpu.CpuBackend"/>:
///   x = embed(tokens)
///   per layer: normed = rmsnorm(x += delta);  qkv = normed W_qkv^T;  qkv_finish (bias, q/k norm, RoPE, KV write; for
///              one token without q/k norms in the projection's epilogue, gemv.cu's gemv_wide_qkv);
///              attention;  delta = o_proj;  normed = rmsnorm(x += delta);  delta = down(silu(gate) * up)
///   logits = lm_head(rmsnorm(x += delta)[last token of each sequence])   (fp32)
/// Everything is queued on one stream (CudaBackend.Step.cs); the host waits only for the logits (or the sampled ids).
/// Decode steps replay CUDA graphs (CudaBackend.Graphs.cs); tokens can be drawn on the GPU (CudaBackend.Sampling.cs).
/// Activation buffers grow to the largest batch seen, so a steady decode loop allocates nothing.
/// </summary>
internal sealed unsafe partial class CudaBackend : IModelBackend
{
    private readonly CudaDevice _device;
    private readonly CudaKernels _kernels;
    private readonly CudaWeights _weights;
    private readonly CudaOps.Gemm _gemm;
    private readonly DeviceBuffer _invFreq;
    private readonly CudaStepInputs _inputs = new();
    private readonly int _qkvStride;
    private CudaKvCache? _kvCache;

    private readonly DeviceBuffer _x = new(), _x2 = new(), _normed = new(), _delta = new(), _qkv = new(), _attn = new(), _gateUp = new(), _act = new(),
        _last = new(), _logits = new(), _ids = new(), _partials = new(), _argMaxScratch = new();
    private readonly PinnedBuffer _hostLogits = new(), _hostIds = new();
    private CudaOps.DecodeStep? _decodeStep;
    private string? _decodeStepUnavailable;
    private CudaOps.OGateUp? _oGateUp;
    private string? _oGateUpUnavailable;

    /// <summary>Attention's split partials, which decode_attention.cuh's ATT_TIMELINE build fills with its stamps (cuda-check reads them).</summary>
    internal DeviceBuffer AttentionPartials => _partials;
    private int _tokenCapacity, _seqCapacity;

    private CudaBackend(ModelConfig config, CudaDevice device, CudaKernels kernels, Func<CudaWeights> weights)
    {
        Config = config;
        _device = device;
        _kernels = kernels;
        _qkvStride = config.QSize + 2 * config.KvSize;
        _gemm = new CudaOps.Gemm(device.Stream, kernels, device.MultiprocessorCount);
        _weights = weights();
        var rope = new RotaryEmbedding(config.HeadDim, config.RopeTheta, config.RopeScaling);
        _invFreq = new DeviceBuffer(config.HeadDim / 2 * 4);
        fixed (float* invFreq = rope.InverseFrequencies)
        {
            CudaDriver.Check(CudaDriver.cuMemcpyHtoD(_invFreq.Pointer, invFreq, (nuint)(config.HeadDim / 2 * 4)), "cuMemcpyHtoD(inv_freq)");
        }
    }

    /// <summary>The backend for <c>--device cuda</c>: copies <paramref name="model"/>'s weights to GPU <paramref name="ordinal"/>.</summary>
    public static CudaBackend Create(LoadedModel model, int ordinal = 0) => Create(model.Config, model.Weights, ordinal);

    public static CudaBackend Create(ModelConfig config, ModelWeights weights, int ordinal = 0)
    {
        var (device, kernels) = Open(ordinal);
        return new CudaBackend(config, device, kernels, () => CudaWeights.Upload(config, weights, device));
    }

    /// <summary><c>--load-format dummy</c> on the GPU: weights U(-scale, scale) drawn on the device, norms 1.</summary>
    public static CudaBackend CreateDummy(ModelConfig config, float scale = DummyWeights.DefaultScale, ulong seed = 0, int ordinal = 0)
    {
        var (device, kernels) = Open(ordinal);
        return new CudaBackend(config, device, kernels, () => CudaWeights.CreateRandom(config, device, kernels, scale, seed));
    }

    private static (CudaDevice, CudaKernels) Open(int ordinal)
    {
        if (!CudaRuntime.IsAvailable(out string reason))
        {
            throw new CudaException(reason);
        }
        var device = new CudaDevice(ordinal);
        try
        {
            var kernels = new CudaKernels(device, KernelCompiler.DefaultCacheDirectory());
            foreach ((string file, string why) in kernels.OptionalFailures)
            {
                Console.Error.WriteLine($"warning: CUDA: {file} is unavailable, its opt-in feature stays off: {why}");
            }
            return (device, kernels);
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    public ModelConfig Config { get; }

    public long? LaunchedAt { get; private set; }

    /// <summary>Notes that this step's work is queued, then waits for the device (<see cref="LaunchedAt"/>).</summary>
    private void WaitForStep()
    {
        LaunchedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        _device.Synchronize();
    }

    /// <summary>
    /// Prefill chunks through the tensor-core prefill_attention.cu instead of gqa_attention.cu (RS_CUDA_PREFILL_ATTENTION=0
    /// turns it off): on an H200 it took a 7B 2048-token prefill from 108 to 49 ms (tools/cuda-check times both).
    /// </summary>
    public bool UsePrefillAttention { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_PREFILL_ATTENTION") != "0";

    /// <summary>
    /// Attention of decode tokens (and of every token gqa_attention.cu would take) through the tensor-core
    /// decode_attention.cu where it supports the shape (RS_CUDA_DECODE_ATTENTION=0 turns it off): on an H200 it took a 7B
    /// decode step of 64 sequences at 1024 tokens from 11.0 to 6.4 ms. Changing it drops the captured decode graphs.
    /// </summary>
    public bool UseDecodeAttention
    {
        get => _useDecodeAttention;
        set => SetDroppingGraphs(ref _useDecodeAttention, value);
    }

    private bool _useDecodeAttention = Environment.GetEnvironmentVariable("RS_CUDA_DECODE_ATTENTION") != "0";

    /// <summary>
    /// Decode attention requests the cache's older keys before it waits for the kernel ahead of it, so that their latency
    /// overlaps it (RS_CUDA_ATTENTION_EARLY=0 turns it off): on the H200 a one-token 7B step went from 3.84 to 3.82 ms, a
    /// 1.5B one from 1.35 to 1.33, 64 sequences at 1024 tokens from 5.46 to 5.43. Changing it drops the captured decode graphs.
    /// </summary>
    public bool EarlyAttentionLoads
    {
        get => _earlyAttentionLoads;
        set => SetDroppingGraphs(ref _earlyAttentionLoads, value);
    }

    private bool _earlyAttentionLoads = Environment.GetEnvironmentVariable("RS_CUDA_ATTENTION_EARLY") != "0";

    /// <summary>
    /// One-token steps of one sequence as decode_step.cu's one persistent launch instead of ~7 kernels per layer
    /// (RS_CUDA_PERSISTENT=1), for models it takes (<see cref="CudaOps.DecodeStep.WhyNot"/>). Opt-in: bit-exact with the
    /// separate kernels but slower on the H200 (1.5B 1.78 vs 1.32 ms a step, 7B 4.84 vs 3.77; decode_step.cu says why).
    /// Changing it drops the captured decode graphs.
    /// </summary>
    public bool UsePersistentStep
    {
        get => _usePersistentStep;
        set => SetDroppingGraphs(ref _usePersistentStep, value);
    }

    private bool _usePersistentStep = Environment.GetEnvironmentVariable("RS_CUDA_PERSISTENT") == "1";

    /// <summary>
    /// One-token steps whose attention is one split run a layer's o projection, post-attention norm and gate_up projection
    /// as gemv_o_gate_up.cu's one launch, whose blocks stream their weights into shared memory while attention runs, for
    /// models it takes (<see cref="CudaOps.OGateUp.WhyNot"/>) and where it pays (<see cref="OGateUpPays"/>);
    /// RS_CUDA_O_GATE_UP=0 turns it off, =1 takes it for every model it can, RS_CUDA_O_GATE_UP_KB sets a block's shared
    /// memory. Changing it drops the captured graphs.
    /// </summary>
    public bool UseOGateUp
    {
        get => _useOGateUp;
        set => SetDroppingGraphs(ref _useOGateUp, value);
    }

    private static readonly string? OGateUpSetting = Environment.GetEnvironmentVariable("RS_CUDA_O_GATE_UP");

    private bool _useOGateUp = OGateUpSetting != "0";

    /// <summary>
    /// Whether gemv_o_gate_up.cu pays for a model of this hidden size: where attention's window is a large share of a
    /// layer and the layer's weights do not all fit its blocks' rings. On the H200 (run 23, device ms a one-token step at
    /// 128 positions, alternated in one call): the 1.5B (hidden 1536) 1.115-1.118 against 1.132-1.134 without it; the 0.5B
    /// (896) 0.599 against 0.529; the 7B (3584) 3.669-3.671 against 3.610 (an earlier call). Sizes between were not
    /// measured.
    /// </summary>
    internal static bool OGateUpPays(int hidden) => OGateUpSetting == "1" || hidden is > 1024 and <= 2048;

    /// <summary>Which one-token GEMMs take gemv.cu's wide layout (see <see cref="CudaOps.Gemm.Wide"/>); changing it drops the captured graphs.</summary>
    internal CudaOps.Gemm.WideRows GemvWide
    {
        get => _gemm.Wide;
        set
        {
            if (value != _gemm.Wide)
            {
                DropGraphs();
                _gemm.Wide = value;
            }
        }
    }

    /// <summary>Small-token GEMMs through gemv.cu instead of cuBLAS (see <see cref="CudaOps.Gemm.UseGemv"/>).</summary>
    public bool UseGemv
    {
        get => _gemm.UseGemv;
        set
        {
            if (value != _gemm.UseGemv)
            {
                DropGraphs();
                _gemm.UseGemv = value;
            }
        }
    }

    /// <summary>A setting the captured graphs bake in: changing it drops them (they are captured again as needed).</summary>
    private void SetDroppingGraphs(ref bool setting, bool value)
    {
        if (value != setting)
        {
            DropGraphs();
            setting = value;
        }
    }

    internal CudaDevice Device => _device;
    internal CudaKernels Kernels => _kernels;
    internal long WeightBytes => _weights.Bytes;
    internal CudaLayer[] Layers => _weights.Layers;

    /// <summary>decode_step.cu's build once a step has used it (tools/cuda-check), else null.</summary>
    internal CudaOps.DecodeStep? PersistentStepBuild => _decodeStep;

    /// <summary>Why decode_step.cu could not be built for this model, once a step has tried.</summary>
    internal string? PersistentStepUnavailable => _decodeStepUnavailable;

    public void AllocateKvCache(int numBlocks, int blockSize)
    {
        _device.MakeCurrent();
        DropGraphs();
        _kvCache?.Dispose();
        _kvCache = null;
        _kvCache = new CudaKvCache(_device, Config.NumLayers, numBlocks, blockSize, Config.KvSize);
    }

    public long KvBlockBytes(int blockSize) => CudaKvCache.BlockBytes(Config.NumLayers, blockSize, Config.KvSize);

    public void Forward(ForwardBatch batch, Span<float> logits)
    {
        int seqs = batch.NumSeqs, vocab = Config.VocabSize;
        if (logits.Length < (long)seqs * vocab)
        {
            throw new ArgumentException($"logits holds {logits.Length} floats; {seqs} sequences need {seqs * (long)vocab}.", nameof(logits));
        }
        if (!TryReplayGraph(batch))
        {
            RunToLogits(batch);
        }
        long floats = (long)seqs * vocab;
        CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync(_hostLogits.Pointer, _logits.Pointer, (nuint)(floats * 4), _device.Stream), "cuMemcpyDtoHAsync(logits)");
        WaitForStep();
        new ReadOnlySpan<float>(_hostLogits.Pointer, (int)floats).CopyTo(logits);
    }

    public bool TryForwardGreedy(ForwardBatch batch, Span<int> tokens)
    {
        ForwardGreedy(batch, tokens);
        return true;
    }

    /// <summary>Like <see cref="Forward"/> but samples greedily on the GPU: only one id per sequence crosses to the host.</summary>
    public void ForwardGreedy(ForwardBatch batch, Span<int> tokens)
    {
        int seqs = batch.NumSeqs;
        if (!TryReplayGraph(batch))
        {
            RunToLogits(batch);
            EnqueueGreedyIds(seqs);
        }
        WaitForStep();
        if (Profiler is { } profiler && !UseGraphs)
        {
            profiler.End();
        }
        new ReadOnlySpan<int>(_hostIds.Pointer, seqs).CopyTo(tokens);
    }

    private void EnqueueGreedyIds(int seqs)
    {
        CudaOps.ArgMax.Launch(_kernels, _device.Stream, _logits.Pointer, Config.VocabSize, _ids.Pointer, seqs, _argMaxScratch.Pointer);
        Mark("argmax");
        CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync(_hostIds.Pointer, _ids.Pointer, (nuint)(seqs * 4), _device.Stream), "cuMemcpyDtoHAsync(ids)");
    }

    /// <summary>Eager: every kernel launched from the host for this batch's exact shape.</summary>
    private void RunToLogits(ForwardBatch batch)
    {
        CudaKvCache cache = _kvCache ?? throw new InvalidOperationException("AllocateKvCache must be called before Forward.");
        _device.MakeCurrent();
        int tokens = batch.NumTokens, seqs = batch.NumSeqs;
        // Prefill chunks go to the tensor-core kernel in query tiles; decode tokens (one new token) to gqa_attention.
        bool tile = tokens > seqs && UsesPrefillAttention;
        _inputs.Upload(batch, cache, _device, tile);
        int splits = AttentionSplits(tile ? Math.Max(1, _inputs.DecodeTokenCount) : tokens, _inputs.MaxContext);
        EnsureCapacity(tokens, seqs, splits);
        Enqueue(_inputs, cache, splits);
    }

    /// <summary>
    /// Grows the activation buffers (to powers of two, so a server settles after a few steps). Growing frees buffers that
    /// captured graphs point at, so it drops them; they are captured again on the next decode step of their shape.
    /// </summary>
    private void EnsureCapacity(int tokens, int seqs, int splits)
    {
        ModelConfig c = Config;
        long partialBytes = 4 * CudaOps.GqaAttention.PartialFloats(tokens, c.NumHeads, c.HeadDim, splits);
        if (tokens <= _tokenCapacity && seqs <= _seqCapacity && partialBytes <= _partials.Bytes)
        {
            return;
        }
        DropGraphs(); // also waits for the device, so the buffers below are free to move
        if (tokens > _tokenCapacity)
        {
            tokens = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(tokens, 64));
            _x.EnsureCapacity(2L * tokens * c.HiddenSize);
            _x2.EnsureCapacity(2L * tokens * c.HiddenSize);
            _normed.EnsureCapacity(2L * tokens * c.HiddenSize);
            _delta.EnsureCapacity(2L * tokens * c.HiddenSize);
            _qkv.EnsureCapacity(2L * tokens * _qkvStride);
            _attn.EnsureCapacity(2L * tokens * c.QSize);
            _gateUp.EnsureCapacity(4L * tokens * c.IntermediateSize);
            _act.EnsureCapacity(2L * tokens * c.IntermediateSize);
            _tokenCapacity = tokens;
        }
        if (seqs > _seqCapacity)
        {
            seqs = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(seqs, 8));
            _last.EnsureCapacity(2L * seqs * c.HiddenSize);
            _logits.EnsureCapacity(4L * seqs * c.VocabSize);
            _ids.EnsureCapacity(4L * seqs);
            _argMaxScratch.EnsureCapacity(CudaOps.ArgMax.ScratchBytes(seqs));
            _hostLogits.EnsureCapacity(4L * seqs * c.VocabSize);
            _hostIds.EnsureCapacity(4L * seqs);
            _seqCapacity = seqs;
        }
        _partials.EnsureCapacity(Math.Max(partialBytes, 2 * _partials.Bytes));
    }

    public void Dispose()
    {
        _device.MakeCurrent();
        DropGraphs();
        _kvCache?.Dispose();
        foreach (DeviceBuffer buffer in new[] { _x, _x2, _normed, _delta, _qkv, _attn, _gateUp, _act, _last, _logits, _ids, _invFreq, _partials, _argMaxScratch })
        {
            buffer.Dispose();
        }
        _hostLogits.Dispose();
        _hostIds.Dispose();
        _sampleInputs.Dispose();
        _sampleResults.Dispose();
        _sampleInputsDevice.Dispose();
        _sampleResultsDevice.Dispose();
        _sampleScratch.Dispose();
        _adjustedLogits.Dispose();
        _inputs.Dispose();
        _decodeStep?.Dispose();
        _oGateUp?.Dispose();
        _gemm.Dispose();
        _weights.Dispose();
        _kernels.Dispose();
        _device.Dispose();
    }
}
