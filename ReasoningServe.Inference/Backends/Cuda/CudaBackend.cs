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
///   per layer: normed = rmsnorm(x += delta);  qkv = normed W_qkv^T (+b);  qk_norm; rope; kv_write; attn;  delta = o_proj
///              normed = rmsnorm(x += delta);  delta = down(silu(gate) * up)
///   logits = lm_head(rmsnorm(x += delta)[last token of each sequence])   (fp32)
/// Everything is queued on one stream; the host waits only for the logits (or the greedy ids).
/// Activation buffers grow to the largest batch seen, so a steady decode loop allocates nothing.
/// </summary>
internal sealed unsafe class CudaBackend : IModelBackend
{
    private readonly CudaDevice _device;
    private readonly CudaKernels _kernels;
    private readonly CudaWeights _weights;
    private readonly CudaOps.Gemm _gemm;
    private readonly DeviceBuffer _invFreq;
    private readonly CudaStepInputs _inputs = new();
    private readonly int _qkvStride;
    private CudaKvCache? _kvCache;

    private readonly DeviceBuffer _x = new(), _normed = new(), _delta = new(), _qkv = new(), _attn = new(), _gateUp = new(), _act = new(),
        _last = new(), _logits = new(), _ids = new(), _partials = new();
    private readonly Dictionary<(int Seqs, int Width), DecodeGraph> _graphs = [];
    private readonly PinnedBuffer _hostLogits = new(), _hostIds = new(), _sampleParams = new(), _sampleResults = new();
    private readonly DeviceBuffer _sampleParamsDevice = new(), _sampleResultsDevice = new();
    private int _tokenCapacity, _seqCapacity;

    private CudaBackend(ModelConfig config, CudaDevice device, CudaKernels kernels, Func<CudaWeights> weights)
    {
        Config = config;
        _device = device;
        _kernels = kernels;
        _qkvStride = config.QSize + 2 * config.KvSize;
        _gemm = new CudaOps.Gemm(device.Stream, kernels);
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
            return (device, new CudaKernels(device, KernelCompiler.DefaultCacheDirectory()));
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    public ModelConfig Config { get; }

    /// <summary>
    /// Prefill chunks through the tensor-core prefill_attention.cu (RS_CUDA_PREFILL_ATTENTION=1) instead of gqa_attention.cu.
    /// Opt-in until it has run on a GPU: tools/cuda-check checks it against the CPU and times both.
    /// </summary>
    public bool UsePrefillAttention { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_PREFILL_ATTENTION") == "1";

    /// <summary>
    /// Attention of decode tokens (and of every token gqa_attention.cu would take) through the tensor-core
    /// decode_attention.cu (RS_CUDA_DECODE_ATTENTION=1), where it supports the shape. Opt-in until it has run on a GPU:
    /// tools/cuda-check checks it against the CPU and times both. Changing it drops the captured decode graphs.
    /// </summary>
    public bool UseDecodeAttention
    {
        get => _useDecodeAttention;
        set
        {
            if (value != _useDecodeAttention)
            {
                _device.Synchronize();
                DropGraphs();
                _useDecodeAttention = value;
            }
        }
    }

    private bool _useDecodeAttention = Environment.GetEnvironmentVariable("RS_CUDA_DECODE_ATTENTION") == "1";

    /// <summary>Small-token GEMMs through gemv.cu instead of cuBLAS (see <see cref="CudaOps.Gemm.UseGemv"/>).</summary>
    public bool UseGemv
    {
        get => _gemm.UseGemv;
        set
        {
            if (value != _gemm.UseGemv)
            {
                _device.Synchronize();
                DropGraphs();
                _gemm.UseGemv = value;
            }
        }
    }

    /// <summary>Largest decode batch replayed from a CUDA graph; larger ones launch eagerly.</summary>
    public const int MaxGraphSeqs = 256;

    /// <summary>Replay decode steps from CUDA graphs (vLLM's default; <c>--enforce-eager</c> or RS_CUDA_GRAPHS=0 turns it off).</summary>
    public bool UseGraphs { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_GRAPHS") != "0";
    internal CudaDevice Device => _device;
    internal CudaKernels Kernels => _kernels;
    internal long WeightBytes => _weights.Bytes;

    public void AllocateKvCache(int numBlocks, int blockSize)
    {
        _device.MakeCurrent();
        _device.Synchronize();
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
        _device.Synchronize();
        new ReadOnlySpan<float>(_hostLogits.Pointer, (int)floats).CopyTo(logits);
    }

    public bool TryForwardGreedy(ForwardBatch batch, Span<int> tokens)
    {
        ForwardGreedy(batch, tokens);
        return true;
    }

    /// <summary>
    /// Forward, then sample.cu draws every sequence's token on the GPU: only the ids and requested logprobs cross to the
    /// host instead of the fp32 logits. Opt-in (RS_CUDA_SAMPLING=1) until it has run on a GPU.
    /// </summary>
    public bool TryForwardSampled(ForwardBatch batch, ReadOnlySpan<BackendSamplingParams> parameters, BackendSamples samples)
    {
        int seqs = batch.NumSeqs;
        if (!UseGpuSampling || parameters.Length != seqs)
        {
            return false;
        }
        if (!TryReplayGraph(batch))
        {
            RunToLogits(batch);
        }
        _sampleParams.EnsureCapacity(4L * CudaOps.Sample.ParamFloats * seqs);
        _sampleParamsDevice.EnsureCapacity(4L * CudaOps.Sample.ParamFloats * seqs);
        _sampleResults.EnsureCapacity(4L * CudaOps.Sample.OutInts * seqs);
        _sampleResultsDevice.EnsureCapacity(4L * CudaOps.Sample.OutInts * seqs);
        var packed = new Span<float>(_sampleParams.Pointer, CudaOps.Sample.ParamFloats * seqs);
        for (int i = 0; i < seqs; i++)
        {
            CudaOps.Sample.Pack(parameters[i], packed, i);
        }
        nint stream = _device.Stream;
        CudaDriver.Check(CudaDriver.cuMemcpyHtoDAsync(_sampleParamsDevice.Pointer, _sampleParams.Pointer, (nuint)(4L * packed.Length), stream), "cuMemcpyHtoDAsync(sampling)");
        CudaOps.Sample.Launch(_kernels, stream, _logits.Pointer, Config.VocabSize, _sampleParamsDevice.Pointer, _sampleResultsDevice.Pointer, seqs);
        CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync(_sampleResults.Pointer, _sampleResultsDevice.Pointer, (nuint)(4L * CudaOps.Sample.OutInts * seqs), stream),
            "cuMemcpyDtoHAsync(samples)");
        _device.Synchronize();
        samples.EnsureCapacity(seqs);
        var results = new ReadOnlySpan<int>(_sampleResults.Pointer, CudaOps.Sample.OutInts * seqs);
        for (int i = 0; i < seqs; i++)
        {
            CudaOps.Sample.Unpack(results, i, parameters[i].Logprobs, samples);
        }
        return true;
    }

    /// <summary>Random sampling on the GPU for <see cref="TryForwardSampled"/> (RS_CUDA_SAMPLING=1; off: the engine samples on the CPU).</summary>
    public bool UseGpuSampling { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_SAMPLING") == "1";

    public bool SupportsSampling => UseGpuSampling;

    /// <summary>Like <see cref="Forward"/> but samples greedily on the GPU: only one id per sequence crosses to the host.</summary>
    public void ForwardGreedy(ForwardBatch batch, Span<int> tokens)
    {
        int seqs = batch.NumSeqs;
        if (!TryReplayGraph(batch))
        {
            RunToLogits(batch);
            EnqueueGreedyIds(seqs);
        }
        _device.Synchronize();
        if (Profiler is { } profiler && !UseGraphs)
        {
            profiler.End();
        }
        new ReadOnlySpan<int>(_hostIds.Pointer, seqs).CopyTo(tokens);
    }

    private void EnqueueGreedyIds(int seqs)
    {
        CudaOps.ArgMax.Launch(_kernels, _device.Stream, _logits.Pointer, Config.VocabSize, _ids.Pointer, seqs);
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
        int maxContext = 0, decodeTokens = 0;
        for (int s = 0; s < seqs; s++)
        {
            maxContext = Math.Max(maxContext, batch.ContextLens[s]);
            decodeTokens += batch.QueryStart[s + 1] - batch.QueryStart[s] == 1 ? 1 : 0;
        }
        int splits = AttentionSplits(tile ? Math.Max(1, decodeTokens) : tokens, maxContext);
        EnsureCapacity(tokens, seqs, splits);
        _inputs.Upload(batch, cache, _device, tile);
        Enqueue(_inputs, cache, splits);
    }

    private bool UsesDecodeAttention =>
        UseDecodeAttention && CudaOps.DecodeAttention.IsSupported(Config.HeadDim, Config.NumHeads, Config.NumKvHeads);

    private bool UsesPrefillAttention =>
        UsePrefillAttention && CudaOps.PrefillAttention.IsSupported(Config.HeadDim) && CudaOps.GqaAttention.IsSupported(Config.HeadDim);

    /// <summary>
    /// Decode steps (one new token per sequence) replay a CUDA graph captured for the batch padded to a size bucket and
    /// its block tables padded to a width bucket: the inputs are packed into the graph's own pinned block and one
    /// cuGraphLaunch runs the copy in, every layer, the argmax and the copy of the ids out.
    /// </summary>
    private bool TryReplayGraph(ForwardBatch batch)
    {
        int seqs = batch.NumSeqs;
        if (!UseGraphs || batch.NumTokens != seqs || seqs > MaxGraphSeqs)
        {
            return false;
        }
        CudaKvCache cache = _kvCache ?? throw new InvalidOperationException("AllocateKvCache must be called before Forward.");
        _device.MakeCurrent();
        int bucket = GraphBatchBucket(seqs), width = 8;
        foreach (int[] table in batch.BlockTables)
        {
            while (width < table.Length)
            {
                width *= 2;
            }
        }
        int splits = AttentionSplits(bucket, width * cache.BlockSize);
        EnsureCapacity(bucket, bucket, splits);
        if (_graphs.TryGetValue((bucket, width), out DecodeGraph? graph))
        {
            graph.Inputs.Pack(batch, cache, _device, bucket, width);
            CudaDriver.Check(CudaDriver.cuGraphLaunch(graph.Exec, _device.Stream), "cuGraphLaunch");
            return true;
        }
        // A new shape runs eagerly first (this step's result, and cuBLAS and lazily loaded modules warmed up outside
        // the capture), then the same launches are captured for the steps after it.
        var inputs = new CudaStepInputs();
        inputs.Pack(batch, cache, _device, bucket, width);
        inputs.CopyToDevice(_device.Stream);
        Enqueue(inputs, cache, splits);
        EnqueueGreedyIds(bucket);
        _device.Synchronize();
        try
        {
            _graphs[(bucket, width)] = Capture(inputs, cache, bucket, splits);
        }
        catch (CudaException e)
        {
            inputs.Dispose();
            Console.Error.WriteLine($"warning: CUDA graph capture failed, decoding eagerly from now on: {e.Message}");
            UseGraphs = false;
        }
        return true;
    }

    private DecodeGraph Capture(CudaStepInputs inputs, CudaKvCache cache, int bucket, int splits)
    {
        nint stream = _device.Stream, graph = 0, exec = 0;
        CudaDriver.Check(CudaDriver.cuStreamBeginCapture(stream, CudaDriver.StreamCaptureModeRelaxed), "cuStreamBeginCapture");
        try
        {
            try
            {
                inputs.CopyToDevice(stream);
                Enqueue(inputs, cache, splits);
                EnqueueGreedyIds(bucket);
            }
            finally
            {
                CudaDriver.Check(CudaDriver.cuStreamEndCapture(stream, &graph), "cuStreamEndCapture");
            }
            CudaDriver.Check(CudaDriver.cuGraphInstantiateWithFlags(&exec, graph, 0), "cuGraphInstantiateWithFlags");
            return new DecodeGraph(inputs, exec);
        }
        finally
        {
            if (graph != 0)
            {
                CudaDriver.cuGraphDestroy(graph);
            }
        }
    }

    /// <summary>Attached by benchmarks: eager steps then record where their GPU time goes.</summary>
    internal CudaStepProfiler? Profiler { get; set; }

    private void Mark(string label) => Profiler?.Mark(label, _device.Stream);

    /// <summary>Batch sizes graphs are captured for: 1, 2, 4, then multiples of 8 (vLLM's buckets).</summary>
    internal static int GraphBatchBucket(int seqs) => seqs <= 4 ? (int)BitOperations.RoundUpToPowerOf2((uint)seqs) : (seqs + 7) / 8 * 8;

    private int AttentionSplits(int tokens, int maxContext) =>
        UsesDecodeAttention ? CudaOps.DecodeAttention.Splits(tokens, Config.NumKvHeads, maxContext, _device.MultiprocessorCount)
        : CudaOps.GqaAttention.IsSupported(Config.HeadDim)
            ? CudaOps.GqaAttention.Splits(tokens, Config.NumHeads, Config.NumKvHeads, maxContext, _device.MultiprocessorCount)
            : 1;

    /// <summary>Queues one forward pass up to the fp32 logits of each sequence's last token, reading every input from <paramref name="inputs"/>.</summary>
    private void Enqueue(CudaStepInputs inputs, CudaKvCache cache, int splits)
    {
        ModelConfig c = Config;
        nint stream = _device.Stream;
        int tokens = inputs.Tokens, seqs = inputs.Seqs;
        int h = c.HiddenSize, inter = c.IntermediateSize;
        float eps = c.RmsNormEps;
        Profiler?.Begin(stream);
        CudaOps.Embedding.Launch(_kernels, stream, _weights.Embed.Pointer, inputs.TokenIds, _x.Pointer, tokens, h);
        Mark("embedding");
        for (int l = 0; l < _weights.Layers.Length; l++)
        {
            CudaLayer layer = _weights.Layers[l];
            if (l == 0)
            {
                CudaOps.RmsNorm.Launch(_kernels, stream, _x.Pointer, layer.InputNorm.Pointer, _normed.Pointer, tokens, h, eps);
            }
            else
            {
                CudaOps.RmsNorm.LaunchAdd(_kernels, stream, _x.Pointer, _delta.Pointer, layer.InputNorm.Pointer, _normed.Pointer, tokens, h, eps);
            }
            Mark("rmsnorm");
            _gemm.Run(_normed.Pointer, tokens, layer.Qkv.Pointer, _qkvStride, h, _qkv.Pointer, _qkvStride);
            Mark("gemm qkv");
            CudaOps.QkvFinish.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, layer.QkvBias?.Pointer ?? 0, layer.QNorm?.Pointer ?? 0,
                layer.KNorm?.Pointer ?? 0, eps, inputs.Positions, _invFreq.Pointer, inputs.Slots, cache.K(l), cache.V(l),
                tokens, c.NumHeads, c.NumKvHeads, c.HeadDim);
            Mark("qkv_finish");
            if (inputs.Tiles > 0)
            {
                CudaOps.PrefillAttention.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, _attn.Pointer, cache.K(l), cache.V(l), inputs.BlockTables,
                    inputs.MaxBlocks, inputs.TokenSeq, inputs.TokenContext, inputs.TileFirst, inputs.TileCount, inputs.Tiles,
                    c.NumHeads, c.NumKvHeads, c.HeadDim, cache.BlockSize);
                if (UsesDecodeAttention)
                {
                    CudaOps.DecodeAttention.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, _attn.Pointer, _partials.Pointer, cache.K(l), cache.V(l),
                        inputs.BlockTables, inputs.MaxBlocks, inputs.TokenSeq, inputs.TokenContext, tokens, c.NumHeads, c.NumKvHeads, c.HeadDim,
                        cache.BlockSize, splits, inputs.DecodeTokens, inputs.DecodeTokenCount);
                }
                else
                {
                    CudaOps.GqaAttention.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, _attn.Pointer, _partials.Pointer, cache.K(l), cache.V(l),
                        inputs.BlockTables, inputs.MaxBlocks, inputs.TokenSeq, inputs.TokenContext, tokens, c.NumHeads, c.NumKvHeads, c.HeadDim,
                        cache.BlockSize, splits, inputs.DecodeTokens, inputs.DecodeTokenCount);
                }
            }
            else if (UsesDecodeAttention)
            {
                CudaOps.DecodeAttention.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, _attn.Pointer, _partials.Pointer, cache.K(l), cache.V(l),
                    inputs.BlockTables, inputs.MaxBlocks, inputs.TokenSeq, inputs.TokenContext, tokens, c.NumHeads, c.NumKvHeads, c.HeadDim,
                    cache.BlockSize, splits);
            }
            else if (CudaOps.GqaAttention.IsSupported(c.HeadDim))
            {
                CudaOps.GqaAttention.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, _attn.Pointer, _partials.Pointer, cache.K(l), cache.V(l),
                    inputs.BlockTables, inputs.MaxBlocks, inputs.TokenSeq, inputs.TokenContext, tokens, c.NumHeads, c.NumKvHeads, c.HeadDim,
                    cache.BlockSize, splits);
            }
            else
            {
                CudaOps.PagedAttention.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, _attn.Pointer, cache.K(l), cache.V(l), inputs.BlockTables,
                    inputs.MaxBlocks, inputs.TokenSeq, inputs.TokenContext, tokens, c.NumHeads, c.NumKvHeads, c.HeadDim, cache.BlockSize);
            }
            Mark("attention");
            _gemm.Run(_attn.Pointer, tokens, layer.O.Pointer, h, c.QSize, _delta.Pointer, h);
            Mark("gemm o");
            if (layer.OBias is { } oBias)
            {
                CudaOps.BiasAdd.Launch(_kernels, stream, _delta.Pointer, h, oBias.Pointer, h, tokens);
            }

            CudaOps.RmsNorm.LaunchAdd(_kernels, stream, _x.Pointer, _delta.Pointer, layer.PostAttentionNorm.Pointer, _normed.Pointer, tokens, h, eps);
            Mark("rmsnorm");
            _gemm.Run(_normed.Pointer, tokens, layer.GateUp.Pointer, 2 * inter, h, _gateUp.Pointer, 2 * inter);
            Mark("gemm gate_up");
            if (layer.GateUpBias is { } gateUpBias)
            {
                CudaOps.BiasAdd.Launch(_kernels, stream, _gateUp.Pointer, 2 * inter, gateUpBias.Pointer, 2 * inter, tokens);
            }
            CudaOps.SiluAndMul.Launch(_kernels, stream, _gateUp.Pointer, _act.Pointer, inter, tokens);
            Mark("silu_mul");
            _gemm.Run(_act.Pointer, tokens, layer.Down.Pointer, h, inter, _delta.Pointer, h);
            Mark("gemm down");
            if (layer.DownBias is { } downBias)
            {
                CudaOps.BiasAdd.Launch(_kernels, stream, _delta.Pointer, h, downBias.Pointer, h, tokens);
            }
        }
        // The final norm runs over every token (cheap) so the fused add stays one kernel; then only each sequence's last
        // row goes through the vocabulary projection, the largest matmul of a decode step.
        CudaOps.RmsNorm.LaunchAdd(_kernels, stream, _x.Pointer, _delta.Pointer, _weights.FinalNorm.Pointer, _normed.Pointer, tokens, h, eps);
        CudaOps.Embedding.Launch(_kernels, stream, _normed.Pointer, inputs.LastTokens, _last.Pointer, seqs, h);
        Mark("rmsnorm");
        _gemm.Run(_last.Pointer, seqs, _weights.LmHead, c.VocabSize, h, _logits.Pointer, c.VocabSize, floatOutput: true);
        Mark("gemm lm_head");
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
        _device.Synchronize();
        DropGraphs();
        if (tokens > _tokenCapacity)
        {
            tokens = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(tokens, 64));
            _x.EnsureCapacity(2L * tokens * c.HiddenSize);
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
            _hostLogits.EnsureCapacity(4L * seqs * c.VocabSize);
            _hostIds.EnsureCapacity(4L * seqs);
            _seqCapacity = seqs;
        }
        _partials.EnsureCapacity(Math.Max(partialBytes, 2 * _partials.Bytes));
    }

    private void DropGraphs()
    {
        foreach (DecodeGraph graph in _graphs.Values)
        {
            graph.Dispose();
        }
        _graphs.Clear();
    }

    /// <summary>An instantiated decode graph and the pinned/device block its first node copies the step's inputs from.</summary>
    private sealed class DecodeGraph(CudaStepInputs inputs, nint exec) : IDisposable
    {
        public CudaStepInputs Inputs { get; } = inputs;
        public nint Exec { get; } = exec;

        public void Dispose()
        {
            CudaDriver.cuGraphExecDestroy(Exec);
            Inputs.Dispose();
        }
    }

    public void Dispose()
    {
        _device.MakeCurrent();
        _device.Synchronize();
        DropGraphs();
        _kvCache?.Dispose();
        foreach (DeviceBuffer buffer in new[] { _x, _normed, _delta, _qkv, _attn, _gateUp, _act, _last, _logits, _ids, _invFreq, _partials })
        {
            buffer.Dispose();
        }
        _hostLogits.Dispose();
        _hostIds.Dispose();
        _sampleParams.Dispose();
        _sampleResults.Dispose();
        _sampleParamsDevice.Dispose();
        _sampleResultsDevice.Dispose();
        _inputs.Dispose();
        _gemm.Dispose();
        _weights.Dispose();
        _kernels.Dispose();
        _device.Dispose();
    }
}
