using System.Numerics.Tensors;
using ReasoningServe.Inference.Backends.Cpu.Ops;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Inference.Backends.Cpu;

/// <summary>
/// The decoder (Qwen2 / Qwen3 / Llama) on CPU in fp32 arithmetic over weights kept in their stored type. One step:
///   x = embed(tokens)
///   per layer: x += o_proj(attn(rope(qk_norm(q, k)), paged kv))  over rmsnorm(x)
///              x += down(silu(gate) * up)                         over rmsnorm(x)
///   logits = lm_head(rmsnorm(x[last token of each sequence]))
/// Activation buffers are sized for the largest batch seen and reused, so a steady decode loop allocates nothing.
/// </summary>
internal sealed unsafe class CpuBackend : IModelBackend
{
    private readonly ModelWeights _weights;
    private readonly bool _ownsWeights;
    private readonly CpuLayer[] _layers;
    private readonly float[] _finalNorm;
    private readonly Linear _lmHead;
    private readonly RotaryEmbedding _rope;
    private readonly CpuWorkerPool _pool;
    private readonly NativeBuffer[] _workerScratch;
    private readonly LinearGroup _linear;
    private readonly PagedAttention _attention;
    private readonly int _linearScratch;
    private CpuKvCache? _kvCache;
    private float[] _greedyLogits = [];

    // Activations, [tokens, features] row-major.
    private readonly NativeBuffer _x = new(), _normed = new(), _q = new(), _k = new(), _v = new(), _attn = new(),
        _projected = new(), _gate = new(), _up = new(), _cos = new(), _sin = new(), _last = new();
    private int _tokenCapacity;
    private int _seqCapacity;
    private int[] _tokenSeq = [];
    private int[] _tokenLastPosition = [];

    /// <param name="threads">Worker threads including the caller; 0 = all cores.</param>
    /// <param name="ownsWeights">Dispose <paramref name="weights"/> with the backend.</param>
    public CpuBackend(ModelConfig config, ModelWeights weights, int threads = 0, bool ownsWeights = true)
    {
        Config = config;
        _weights = weights;
        _ownsWeights = ownsWeights;
        _layers = new CpuLayer[config.NumLayers];
        for (int i = 0; i < _layers.Length; i++)
        {
            _layers[i] = new CpuLayer(weights.Layers[i]);
        }
        _finalNorm = TensorConvert.ToSingleArray(weights.FinalNorm);
        _lmHead = new Linear(weights.LmHead, null);
        _rope = new RotaryEmbedding(config.HeadDim, config.RopeTheta, config.RopeScaling);
        _pool = new CpuWorkerPool(threads > 0 ? threads : Environment.ProcessorCount);
        _workerScratch = new NativeBuffer[_pool.WorkerCount];
        _linearScratch = Linear.TileRows * Math.Max(Math.Max(config.HiddenSize, config.IntermediateSize), config.QSize);
        for (int i = 0; i < _workerScratch.Length; i++)
        {
            _workerScratch[i] = new NativeBuffer(_linearScratch);
        }
        _linear = new LinearGroup(_pool, _workerScratch);
        _attention = new PagedAttention(_pool, _workerScratch, config.NumHeads, config.NumKvHeads, config.HeadDim);
    }

    public ModelConfig Config { get; }

    public void AllocateKvCache(int numBlocks, int blockSize)
    {
        _kvCache?.Dispose();
        _kvCache = null;
        _kvCache = new CpuKvCache(Config.NumLayers, numBlocks, blockSize, Config.KvSize);
    }

    public long KvBlockBytes(int blockSize) => CpuKvCache.BlockBytes(Config.NumLayers, blockSize, Config.KvSize);

    /// <summary>The argmax beside the logits, as the CUDA backend does on the GPU: lowest id on a tie, like the sampler.</summary>
    public bool TryForwardGreedy(ForwardBatch batch, Span<int> tokens)
    {
        int vocab = Config.VocabSize;
        int needed = batch.NumSeqs * vocab;
        if (_greedyLogits.Length < needed)
        {
            _greedyLogits = new float[needed];
        }
        Forward(batch, _greedyLogits.AsSpan(0, needed));
        for (int i = 0; i < batch.NumSeqs; i++)
        {
            tokens[i] = TensorPrimitives.IndexOfMax(_greedyLogits.AsSpan(i * vocab, vocab));
        }
        return true;
    }

    public void Forward(ForwardBatch batch, Span<float> logits)
    {
        CpuKvCache cache = _kvCache ?? throw new InvalidOperationException("AllocateKvCache must be called before Forward.");
        int tokens = batch.NumTokens;
        int seqs = batch.NumSeqs;
        if (logits.Length < (long)seqs * Config.VocabSize)
        {
            throw new ArgumentException($"logits holds {logits.Length} floats; {seqs} sequences need {seqs * (long)Config.VocabSize}.", nameof(logits));
        }
        int maxContext = PrepareBatch(batch, cache);
        EnsureCapacity(tokens, seqs, maxContext);

        int h = Config.HiddenSize, qSize = Config.QSize, kvSize = Config.KvSize, inter = Config.IntermediateSize;
        _rope.ComputeCosSin(batch.Positions, _cos.Span(0, tokens * Config.HeadDim / 2), _sin.Span(0, tokens * Config.HeadDim / 2));
        Embedding.Forward(_weights.EmbedTokens, batch.TokenIds, _x.Pointer);

        for (int l = 0; l < _layers.Length; l++)
        {
            CpuLayer layer = _layers[l];
            RmsNorm.Forward(_x.Span(0, tokens * h), layer.InputNorm, Config.RmsNormEps, _normed.Span(0, tokens * h));
            _linear.Run(_normed.Pointer, tokens, layer.QProj, _q.Pointer, layer.KProj, _k.Pointer, layer.VProj, _v.Pointer);
            Span<float> q = _q.Span(0, tokens * qSize), k = _k.Span(0, tokens * kvSize), v = _v.Span(0, tokens * kvSize);
            if (layer.QNorm is { } qNorm && layer.KNorm is { } kNorm)
            {
                RmsNorm.Forward(q, qNorm, Config.RmsNormEps, q);
                RmsNorm.Forward(k, kNorm, Config.RmsNormEps, k);
            }
            ReadOnlySpan<float> cos = _cos.Span(0, tokens * Config.HeadDim / 2), sin = _sin.Span(0, tokens * Config.HeadDim / 2);
            _rope.Apply(q, Config.NumHeads, cos, sin);
            _rope.Apply(k, Config.NumKvHeads, cos, sin);
            KvCacheWrite.Forward(k, v, batch.SlotMapping, cache.K(l), cache.V(l), kvSize, cache.TotalSlots);
            _attention.Forward(_q.Pointer, _attn.Pointer, tokens, _tokenSeq, _tokenLastPosition, batch.BlockTables, cache.K(l), cache.V(l), cache.BlockSize);
            _linear.Run(_attn.Pointer, tokens, layer.OProj, _projected.Pointer);
            TensorPrimitives.Add(_x.Span(0, tokens * h), _projected.Span(0, tokens * h), _x.Span(0, tokens * h));

            RmsNorm.Forward(_x.Span(0, tokens * h), layer.PostAttentionNorm, Config.RmsNormEps, _normed.Span(0, tokens * h));
            _linear.Run(_normed.Pointer, tokens, layer.GateProj, _gate.Pointer, layer.UpProj, _up.Pointer);
            SiluAndMul.Forward(_gate.Span(0, tokens * inter), _up.Span(0, tokens * inter), _gate.Span(0, tokens * inter));
            _linear.Run(_gate.Pointer, tokens, layer.DownProj, _projected.Pointer);
            TensorPrimitives.Add(_x.Span(0, tokens * h), _projected.Span(0, tokens * h), _x.Span(0, tokens * h));
        }

        // Only each sequence's last token needs logits; the vocabulary projection is the largest matmul of a step.
        for (int s = 0; s < seqs; s++)
        {
            int lastToken = batch.QueryStart[s + 1] - 1;
            RmsNorm.Forward(_x.Span((long)lastToken * h, h), _finalNorm, Config.RmsNormEps, _last.Span((long)s * h, h));
        }
        fixed (float* output = logits)
        {
            _linear.Run(_last.Pointer, seqs, _lmHead, output);
        }
    }

    /// <summary>Checks the batch's shape and derives, per token, its sequence and the last position it attends to.</summary>
    private int PrepareBatch(ForwardBatch batch, CpuKvCache cache)
    {
        int tokens = batch.NumTokens;
        int seqs = batch.NumSeqs;
        if (batch.Positions.Length != tokens || batch.SlotMapping.Length != tokens || batch.QueryStart.Length != seqs + 1
            || batch.ContextLens.Length != seqs || batch.BlockTables.Length != seqs || batch.QueryStart[0] != 0 || batch.QueryStart[seqs] != tokens)
        {
            throw new ArgumentException("ForwardBatch arrays disagree on the number of tokens or sequences.", nameof(batch));
        }
        if (_tokenSeq.Length < tokens)
        {
            _tokenSeq = new int[tokens];
            _tokenLastPosition = new int[tokens];
        }
        int maxContext = 0;
        for (int s = 0; s < seqs; s++)
        {
            int start = batch.QueryStart[s], end = batch.QueryStart[s + 1];
            int queryLength = end - start;
            int context = batch.ContextLens[s];
            if (queryLength <= 0 || context < queryLength)
            {
                throw new ArgumentException($"sequence {s}: {queryLength} new tokens with context length {context}.", nameof(batch));
            }
            if ((long)batch.BlockTables[s].Length * cache.BlockSize < context)
            {
                throw new ArgumentException($"sequence {s}: {batch.BlockTables[s].Length} blocks cannot hold {context} tokens.", nameof(batch));
            }
            foreach (int block in batch.BlockTables[s])
            {
                if ((uint)block >= (uint)cache.NumBlocks)
                {
                    throw new ArgumentException($"sequence {s}: block {block} is outside the KV cache of {cache.NumBlocks} blocks.", nameof(batch));
                }
            }
            for (int t = start; t < end; t++)
            {
                _tokenSeq[t] = s;
                _tokenLastPosition[t] = context - queryLength + (t - start);
            }
            maxContext = Math.Max(maxContext, context);
        }
        return maxContext;
    }

    private void EnsureCapacity(int tokens, int seqs, int maxContext)
    {
        foreach (NativeBuffer scratch in _workerScratch)
        {
            scratch.EnsureCapacity(Math.Max(_linearScratch, PagedAttention.ScratchLength(maxContext)));
        }
        if (tokens > _tokenCapacity)
        {
            int half = Config.HeadDim / 2;
            _x.EnsureCapacity((long)tokens * Config.HiddenSize);
            _normed.EnsureCapacity((long)tokens * Config.HiddenSize);
            _projected.EnsureCapacity((long)tokens * Config.HiddenSize);
            _q.EnsureCapacity((long)tokens * Config.QSize);
            _attn.EnsureCapacity((long)tokens * Config.QSize);
            _k.EnsureCapacity((long)tokens * Config.KvSize);
            _v.EnsureCapacity((long)tokens * Config.KvSize);
            _gate.EnsureCapacity((long)tokens * Config.IntermediateSize);
            _up.EnsureCapacity((long)tokens * Config.IntermediateSize);
            _cos.EnsureCapacity((long)tokens * half);
            _sin.EnsureCapacity((long)tokens * half);
            _tokenCapacity = tokens;
        }
        if (seqs > _seqCapacity)
        {
            _last.EnsureCapacity((long)seqs * Config.HiddenSize);
            _seqCapacity = seqs;
        }
    }

    public void Dispose()
    {
        _pool.Dispose();
        _kvCache?.Dispose();
        foreach (NativeBuffer buffer in _workerScratch)
        {
            buffer.Dispose();
        }
        foreach (NativeBuffer buffer in new[] { _x, _normed, _q, _k, _v, _attn, _projected, _gate, _up, _cos, _sin, _last })
        {
            buffer.Dispose();
        }
        if (_ownsWeights)
        {
            _weights.Dispose();
        }
    }
}
