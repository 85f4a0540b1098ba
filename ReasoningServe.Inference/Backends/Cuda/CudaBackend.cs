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
        _last = new(), _logits = new(), _ids = new();
    private readonly PinnedBuffer _hostLogits = new(), _hostIds = new();
    private int _tokenCapacity, _seqCapacity;

    private CudaBackend(ModelConfig config, CudaDevice device, CudaKernels kernels, Func<CudaWeights> weights)
    {
        Config = config;
        _device = device;
        _kernels = kernels;
        _qkvStride = config.QSize + 2 * config.KvSize;
        _gemm = new CudaOps.Gemm(device.Stream);
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
    internal CudaDevice Device => _device;
    internal CudaKernels Kernels => _kernels;
    internal long WeightBytes => _weights.Bytes;

    public void AllocateKvCache(int numBlocks, int blockSize)
    {
        _device.MakeCurrent();
        _device.Synchronize();
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
        RunToLogits(batch);
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

    /// <summary>Like <see cref="Forward"/> but samples greedily on the GPU: only one id per sequence crosses to the host.</summary>
    public void ForwardGreedy(ForwardBatch batch, Span<int> tokens)
    {
        RunToLogits(batch);
        int seqs = batch.NumSeqs;
        CudaOps.ArgMax.Launch(_kernels, _device.Stream, _logits.Pointer, Config.VocabSize, _ids.Pointer, seqs);
        CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync(_hostIds.Pointer, _ids.Pointer, (nuint)(seqs * 4), _device.Stream), "cuMemcpyDtoHAsync(ids)");
        _device.Synchronize();
        new ReadOnlySpan<int>(_hostIds.Pointer, seqs).CopyTo(tokens);
    }

    private void RunToLogits(ForwardBatch batch)
    {
        CudaKvCache cache = _kvCache ?? throw new InvalidOperationException("AllocateKvCache must be called before Forward.");
        _device.MakeCurrent();
        int tokens = batch.NumTokens, seqs = batch.NumSeqs;
        EnsureCapacity(tokens, seqs);
        _inputs.Upload(batch, cache, _device);

        ModelConfig c = Config;
        nint stream = _device.Stream;
        int h = c.HiddenSize, inter = c.IntermediateSize;
        float eps = c.RmsNormEps;
        CudaOps.Embedding.Launch(_kernels, stream, _weights.Embed.Pointer, _inputs.TokenIds, _x.Pointer, tokens, h);
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
            _gemm.Run(_normed.Pointer, tokens, layer.Qkv.Pointer, _qkvStride, h, _qkv.Pointer, _qkvStride);
            if (layer.QkvBias is { } qkvBias)
            {
                CudaOps.BiasAdd.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, qkvBias.Pointer, _qkvStride, tokens);
            }
            if (layer.QNorm is { } qNorm && layer.KNorm is { } kNorm)
            {
                CudaOps.QkNorm.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, qNorm.Pointer, kNorm.Pointer, tokens, c.NumHeads, c.NumKvHeads, c.HeadDim, eps);
            }
            CudaOps.Rope.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, _inputs.Positions, _invFreq.Pointer, tokens, c.NumHeads + c.NumKvHeads, c.HeadDim);
            CudaOps.KvCacheWrite.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, c.QSize, c.KvSize, _inputs.Slots, cache.K(l), cache.V(l), tokens);
            CudaOps.PagedAttention.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, _attn.Pointer, cache.K(l), cache.V(l), _inputs.BlockTables,
                _inputs.MaxBlocks, _inputs.TokenSeq, _inputs.TokenContext, tokens, c.NumHeads, c.NumKvHeads, c.HeadDim, cache.BlockSize);
            _gemm.Run(_attn.Pointer, tokens, layer.O.Pointer, h, c.QSize, _delta.Pointer, h);
            if (layer.OBias is { } oBias)
            {
                CudaOps.BiasAdd.Launch(_kernels, stream, _delta.Pointer, h, oBias.Pointer, h, tokens);
            }

            CudaOps.RmsNorm.LaunchAdd(_kernels, stream, _x.Pointer, _delta.Pointer, layer.PostAttentionNorm.Pointer, _normed.Pointer, tokens, h, eps);
            _gemm.Run(_normed.Pointer, tokens, layer.GateUp.Pointer, 2 * inter, h, _gateUp.Pointer, 2 * inter);
            if (layer.GateUpBias is { } gateUpBias)
            {
                CudaOps.BiasAdd.Launch(_kernels, stream, _gateUp.Pointer, 2 * inter, gateUpBias.Pointer, 2 * inter, tokens);
            }
            CudaOps.SiluAndMul.Launch(_kernels, stream, _gateUp.Pointer, _act.Pointer, inter, tokens);
            _gemm.Run(_act.Pointer, tokens, layer.Down.Pointer, h, inter, _delta.Pointer, h);
            if (layer.DownBias is { } downBias)
            {
                CudaOps.BiasAdd.Launch(_kernels, stream, _delta.Pointer, h, downBias.Pointer, h, tokens);
            }
        }
        // The final norm runs over every token (cheap) so the fused add stays one kernel; then only each sequence's last
        // row goes through the vocabulary projection, the largest matmul of a decode step.
        CudaOps.RmsNorm.LaunchAdd(_kernels, stream, _x.Pointer, _delta.Pointer, _weights.FinalNorm.Pointer, _normed.Pointer, tokens, h, eps);
        CudaOps.Embedding.Launch(_kernels, stream, _normed.Pointer, _inputs.LastTokens, _last.Pointer, seqs, h);
        _gemm.Run(_last.Pointer, seqs, _weights.LmHead, c.VocabSize, h, _logits.Pointer, c.VocabSize, floatOutput: true);
    }

    private void EnsureCapacity(int tokens, int seqs)
    {
        if (tokens <= _tokenCapacity && seqs <= _seqCapacity)
        {
            return;
        }
        _device.Synchronize();
        ModelConfig c = Config;
        if (tokens > _tokenCapacity)
        {
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
            _last.EnsureCapacity(2L * seqs * c.HiddenSize);
            _logits.EnsureCapacity(4L * seqs * c.VocabSize);
            _ids.EnsureCapacity(4L * seqs);
            _hostLogits.EnsureCapacity(4L * seqs * c.VocabSize);
            _hostIds.EnsureCapacity(4L * seqs);
            _seqCapacity = seqs;
        }
    }

    public void Dispose()
    {
        _device.MakeCurrent();
        _device.Synchronize();
        _kvCache?.Dispose();
        foreach (DeviceBuffer buffer in new[] { _x, _normed, _delta, _qkv, _attn, _gateUp, _act, _last, _logits, _ids, _invFreq })
        {
            buffer.Dispose();
        }
        _hostLogits.Dispose();
        _hostIds.Dispose();
        _inputs.Dispose();
        _gemm.Dispose();
        _weights.Dispose();
        _kernels.Dispose();
        _device.Dispose();
    }
}
