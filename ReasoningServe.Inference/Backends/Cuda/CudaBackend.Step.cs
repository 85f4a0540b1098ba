using ReasoningServe.Inference.Backends.Cuda.Native;
using ReasoningServe.Inference.Model;
using CudaOps = ReasoningServe.Inference.Backends.Cuda.Ops;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>One forward pass's kernels, in stream order (the step the class summary writes out), and the choices among them.</summary>
internal sealed unsafe partial class CudaBackend
{
    private bool UsesDecodeAttention =>
        UseDecodeAttention && _kernels.DecodeAttention.IsLoaded && CudaOps.DecodeAttention.IsSupported(Config.HeadDim, Config.NumHeads, Config.NumKvHeads);

    private bool UsesPrefillAttention =>
        UsePrefillAttention && _kernels.PrefillAttention.IsLoaded && CudaOps.PrefillAttention.IsSupported(Config.HeadDim)
        && CudaOps.GqaAttention.IsSupported(Config.HeadDim);

    /// <summary>Attached by benchmarks: eager steps then record where their GPU time goes.</summary>
    internal CudaStepProfiler? Profiler { get; set; }

    private void Mark(string label) => Profiler?.Mark(label, _device.Stream);

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
        if (tokens == 1 && seqs == 1 && inputs.Tiles == 0 && PersistentStep() is { } step)
        {
            EnqueuePersistent(step, inputs, cache, splits);
            Mark("decode_step");
            return;
        }
        CudaOps.Embedding.Launch(_kernels, stream, _weights.Embed.Pointer, inputs.TokenIds, _x.Pointer, tokens, h);
        Mark("embedding");
        ulong x = _x.Pointer; // the residual stream; gemv.cu's fused rmsnorm moves it between _x and _x2
        for (int l = 0; l < _weights.Layers.Length; l++)
        {
            CudaLayer layer = _weights.Layers[l];
            if (FusesQkvFinish(tokens, layer))
            {
                Normalize(x, add: l > 0, layer.InputNorm.Pointer, tokens);
                _gemm.RunQkv(_normed.Pointer, layer.Qkv.Pointer, h, _qkv.Pointer, layer.QkvBias?.Pointer ?? 0, inputs.Positions, _invFreq.Pointer,
                    inputs.Slots, cache.K(l), cache.V(l), c.NumHeads, c.NumKvHeads, c.HeadDim);
                Mark("norm + gemm qkv + qkv_finish");
            }
            else
            {
                x = NormAndProject(x, add: l > 0, layer.InputNorm.Pointer, layer.Qkv.Pointer, _qkvStride, _qkv.Pointer, tokens);
                Mark("norm + gemm qkv");
                CudaOps.QkvFinish.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, layer.QkvBias?.Pointer ?? 0, layer.QNorm?.Pointer ?? 0,
                    layer.KNorm?.Pointer ?? 0, eps, inputs.Positions, _invFreq.Pointer, inputs.Slots, cache.K(l), cache.V(l),
                    tokens, c.NumHeads, c.NumKvHeads, c.HeadDim);
                Mark("qkv_finish");
            }
            Attend(inputs, cache, l, splits);
            Mark("attention");
            if (tokens == 1 && splits == 1 && layer.OBias is null && layer.GateUpBias is null && OGateUpStep() is { } oGateUp)
            {
                oGateUp.Launch(stream, _attn.Pointer, layer.O.Pointer, x, layer.PostAttentionNorm.Pointer, eps, layer.GateUp.Pointer, _act.Pointer);
                Mark("o + norm + gate_up + silu");
                _gemm.Run(_act.Pointer, tokens, layer.Down.Pointer, h, inter, _delta.Pointer, h);
                Mark("gemm down");
                if (layer.DownBias is { } bias)
                {
                    CudaOps.BiasAdd.Launch(_kernels, stream, _delta.Pointer, h, bias.Pointer, h, tokens);
                }
                continue;
            }
            _gemm.Run(_attn.Pointer, tokens, layer.O.Pointer, h, c.QSize, _delta.Pointer, h);
            Mark("gemm o");
            if (layer.OBias is { } oBias)
            {
                CudaOps.BiasAdd.Launch(_kernels, stream, _delta.Pointer, h, oBias.Pointer, h, tokens);
            }

            if (layer.GateUpBias is null && !_gemm.FusesNorm(tokens, h) && _gemm.FusesSiluIntoGateUp(tokens, h, inter))
            {
                Normalize(x, add: true, layer.PostAttentionNorm.Pointer, tokens);
                _gemm.RunGateUpSilu(_normed.Pointer, tokens, layer.GateUp.Pointer, inter, h, _act.Pointer);
                Mark("norm + gemm gate_up + silu");
                _gemm.Run(_act.Pointer, tokens, layer.Down.Pointer, h, inter, _delta.Pointer, h);
                Mark("gemm down");
            }
            else
            {
                x = NormAndProject(x, add: true, layer.PostAttentionNorm.Pointer, layer.GateUp.Pointer, 2 * inter, _gateUp.Pointer, tokens);
                Mark("norm + gemm gate_up");
                if (layer.GateUpBias is { } gateUpBias)
                {
                    CudaOps.BiasAdd.Launch(_kernels, stream, _gateUp.Pointer, 2 * inter, gateUpBias.Pointer, 2 * inter, tokens);
                }
                if (_gemm.FusesSilu(tokens, inter))
                {
                    _gemm.RunSilu(_gateUp.Pointer, tokens, layer.Down.Pointer, h, inter, _delta.Pointer, h);
                }
                else
                {
                    CudaOps.SiluAndMul.Launch(_kernels, stream, _gateUp.Pointer, _act.Pointer, inter, tokens);
                    _gemm.Run(_act.Pointer, tokens, layer.Down.Pointer, h, inter, _delta.Pointer, h);
                }
                Mark("silu + gemm down");
            }
            if (layer.DownBias is { } downBias)
            {
                CudaOps.BiasAdd.Launch(_kernels, stream, _delta.Pointer, h, downBias.Pointer, h, tokens);
            }
        }
        // The final norm runs over every token (cheap) so the fused add stays one kernel; then only each sequence's last
        // row goes through the vocabulary projection, the largest matmul of a decode step.
        CudaOps.RmsNorm.LaunchAdd(_kernels, stream, x, _delta.Pointer, _weights.FinalNorm.Pointer, _normed.Pointer, tokens, h, eps);
        CudaOps.Embedding.Launch(_kernels, stream, _normed.Pointer, inputs.LastTokens, _last.Pointer, seqs, h);
        Mark("rmsnorm");
        _gemm.Run(_last.Pointer, seqs, _weights.LmHead, c.VocabSize, h, _logits.Pointer, c.VocabSize, floatOutput: true);
        Mark("gemm lm_head");
    }

    /// <summary>decode_step.cu in place of every kernel of <see cref="Enqueue"/> (one token of one sequence).</summary>
    private void EnqueuePersistent(CudaOps.DecodeStep step, CudaStepInputs inputs, CudaKvCache cache, int splits)
    {
        ModelConfig c = Config;
        (ulong partialOut, ulong partialMax, ulong partialSum) = CudaOps.GqaAttention.PartialParts(_partials.Pointer, 1, c.NumHeads, c.HeadDim, splits);
        step.Launch(_device.Stream, _device, _weights.Layers, cache, new CudaOps.DecodeStep.Args
        {
            Embed = _weights.Embed.Pointer,
            LmHead = _weights.LmHead,
            FinalNorm = _weights.FinalNorm.Pointer,
            TokenIds = inputs.TokenIds,
            Positions = inputs.Positions,
            Slots = inputs.Slots,
            BlockTables = inputs.BlockTables,
            TokenSeq = inputs.TokenSeq,
            TokenContext = inputs.TokenContext,
            InvFreq = _invFreq.Pointer,
            Residual0 = _x.Pointer,
            Residual1 = _x2.Pointer,
            Delta = _delta.Pointer,
            Qkv = _qkv.Pointer,
            Attn = _attn.Pointer,
            GateUp = _gateUp.Pointer,
            Logits = _logits.Pointer,
            PartialOut = partialOut,
            PartialMax = partialMax,
            PartialSum = partialSum,
            MaxBlocks = inputs.MaxBlocks,
            BlockSize = cache.BlockSize,
            Splits = splits,
            Eps = c.RmsNormEps,
            Scale = 1f / MathF.Sqrt(c.HeadDim),
        });
    }

    /// <summary>
    /// gemv_o_gate_up.cu's launch for this model when <see cref="UseOGateUp"/> asks for it, it pays for the model
    /// (<see cref="OGateUpPays"/>) and the device and the one-token GEMMs (gemv.cu's wide gate_up with the SiLU, which it
    /// replaces) take it; a model it cannot take says why once and keeps the separate kernels. The step takes it only where
    /// attention is one split: one launch of a block a KV head, whose multiprocessors its grid leaves free.
    /// </summary>
    private CudaOps.OGateUp? OGateUpStep()
    {
        ModelConfig c = Config;
        if (!UseOGateUp || !OGateUpPays(c.HiddenSize) || _oGateUpUnavailable is not null || _gemm.FusesNorm(1, c.HiddenSize)
            || !_gemm.FusesSiluIntoGateUp(1, c.HiddenSize, c.IntermediateSize))
        {
            return null;
        }
        if (_oGateUp is null)
        {
            int sharedBytes = CudaOps.OGateUp.SharedBytes;
            string? why = CudaOps.OGateUp.WhyNot(_kernels, _device, c.HiddenSize, c.QSize, _device.MultiprocessorCount, sharedBytes);
            try
            {
                _oGateUp = why is null ? CudaOps.OGateUp.Create(_kernels, _device, c.HiddenSize, c.IntermediateSize, sharedBytes, c.NumKvHeads, _device.Stream) : null;
            }
            catch (NotSupportedException e)
            {
                why = e.Message;
            }
            if (_oGateUp is null)
            {
                _oGateUpUnavailable = why;
                Console.Error.WriteLine($"warning: CUDA: gemv_o_gate_up is off for this model: {why}");
                return null;
            }
        }
        return _oGateUp;
    }

    /// <summary>
    /// decode_step.cu's build for this model when <see cref="UsePersistentStep"/> asks for it and the model and device take
    /// it (built at the first step that can use it; a model it cannot take says why once and keeps the separate kernels).
    /// </summary>
    private CudaOps.DecodeStep? PersistentStep()
    {
        if (!UsePersistentStep || _decodeStepUnavailable is not null)
        {
            return null;
        }
        if (_decodeStep is null)
        {
            try
            {
                _decodeStep = CudaOps.DecodeStep.Create(Config, _weights.Layers, _device, _kernels.ProgrammaticLaunch);
            }
            catch (Exception e) when (e is NotSupportedException or CudaException)
            {
                _decodeStepUnavailable = e.Message;
                Console.Error.WriteLine($"warning: CUDA: the persistent decode step is off for this model: {e.Message}");
                return null;
            }
        }
        return _decodeStep;
    }

    /// <summary>
    /// x += delta (when <paramref name="add"/>), then output = rmsnorm(x) W^T. With gemv.cu's fused norm that is one launch that
    /// leaves the new residual in the other of _x / _x2, since its other blocks still read the old one; returns where x lives.
    /// </summary>
    private ulong NormAndProject(ulong x, bool add, ulong normWeight, ulong weight, int outFeatures, ulong output, int tokens)
    {
        int h = Config.HiddenSize;
        float eps = Config.RmsNormEps;
        if (_gemm.FusesNorm(tokens, h))
        {
            ulong next = !add ? x : x == _x.Pointer ? _x2.Pointer : _x.Pointer;
            _gemm.RunRmsNorm(x, add ? _delta.Pointer : 0, normWeight, eps, add ? next : 0, tokens, weight, outFeatures, h, output, outFeatures);
            return next;
        }
        Normalize(x, add, normWeight, tokens);
        _gemm.Run(_normed.Pointer, tokens, weight, outFeatures, h, output, outFeatures);
        return x;
    }

    /// <summary>x += delta in place (when <paramref name="add"/>), then _normed = rmsnorm(x).</summary>
    private void Normalize(ulong x, bool add, ulong normWeight, int tokens)
    {
        int h = Config.HiddenSize;
        float eps = Config.RmsNormEps;
        if (add)
        {
            CudaOps.RmsNorm.LaunchAdd(_kernels, _device.Stream, x, _delta.Pointer, normWeight, _normed.Pointer, tokens, h, eps);
        }
        else
        {
            CudaOps.RmsNorm.Launch(_kernels, _device.Stream, x, normWeight, _normed.Pointer, tokens, h, eps);
        }
    }

    /// <summary>
    /// Whether this layer's qkv projection finishes in gemv.cu's gemv_wide_qkv (one token, no q/k norms, the rmsnorm not
    /// fused into the projection) instead of a separate qkv_finish launch.
    /// </summary>
    private bool FusesQkvFinish(int tokens, CudaLayer layer) =>
        layer.QNorm is null && layer.KNorm is null && !_gemm.FusesNorm(tokens, Config.HiddenSize)
        && _gemm.FusesQkvFinish(tokens, Config.HiddenSize, _qkvStride, Config.HeadDim);

    /// <summary>
    /// Attention of layer <paramref name="layer"/>: prefill chunks by query tile on tensor cores when tiled, the other
    /// (decode) tokens, or every token when not tiled, by the GQA decode kernel; the scalar kernel for head dims neither takes.
    /// </summary>
    private void Attend(CudaStepInputs inputs, CudaKvCache cache, int layer, int splits)
    {
        ModelConfig c = Config;
        nint stream = _device.Stream;
        ulong k = cache.K(layer), v = cache.V(layer);
        if (inputs.Tiles > 0)
        {
            CudaOps.PrefillAttention.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, _attn.Pointer, k, v, inputs.BlockTables, inputs.MaxBlocks,
                inputs.TokenSeq, inputs.TokenContext, inputs.TileFirst, inputs.TileCount, inputs.Tiles, c.NumHeads, c.NumKvHeads, c.HeadDim, cache.BlockSize,
                multiprocessors: _device.MultiprocessorCount);
            AttendDecode(inputs, k, v, cache.BlockSize, splits, inputs.DecodeTokens, inputs.DecodeTokenCount);
        }
        else if (UsesDecodeAttention || CudaOps.GqaAttention.IsSupported(c.HeadDim))
        {
            AttendDecode(inputs, k, v, cache.BlockSize, splits, 0, 0);
        }
        else
        {
            CudaOps.PagedAttention.Launch(_kernels, stream, _qkv.Pointer, _qkvStride, _attn.Pointer, k, v, inputs.BlockTables, inputs.MaxBlocks,
                inputs.TokenSeq, inputs.TokenContext, inputs.Tokens, c.NumHeads, c.NumKvHeads, c.HeadDim, cache.BlockSize);
        }
    }

    /// <summary>The listed tokens (or all, given no list) through decode_attention.cu (tensor cores) or gqa_attention.cu.</summary>
    private void AttendDecode(CudaStepInputs inputs, ulong k, ulong v, int blockSize, int splits, ulong tokenList, int listed)
    {
        ModelConfig c = Config;
        if (UsesDecodeAttention)
        {
            // listed tokens are the decode tokens of a mixed step; unlisted, every token is one only if the step decodes only
            bool early = EarlyAttentionLoads && (tokenList != 0 || inputs.Tokens == inputs.Seqs);
            CudaOps.DecodeAttention.Launch(_kernels, _device.Stream, _qkv.Pointer, _qkvStride, _attn.Pointer, _partials.Pointer, k, v, inputs.BlockTables,
                inputs.MaxBlocks, inputs.TokenSeq, inputs.TokenContext, inputs.Tokens, c.NumHeads, c.NumKvHeads, c.HeadDim, blockSize, splits, tokenList, listed,
                early, CudaOps.DecodeAttention.UsesDeep(inputs.MaxBlocks * blockSize, splits, tokenList != 0 ? listed : inputs.Tokens), _device.MultiprocessorCount);
        }
        else
        {
            CudaOps.GqaAttention.Launch(_kernels, _device.Stream, _qkv.Pointer, _qkvStride, _attn.Pointer, _partials.Pointer, k, v, inputs.BlockTables,
                inputs.MaxBlocks, inputs.TokenSeq, inputs.TokenContext, inputs.Tokens, c.NumHeads, c.NumKvHeads, c.HeadDim, blockSize, splits, tokenList, listed);
        }
    }
}
