using ReasoningServe.Inference.Backends.Cuda.Ops;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// The model's parameters in device memory, all bf16. From a checkpoint they stream through a pinned staging buffer
/// (fp16/fp32 tensors are converted to bf16 on the host on the way); for benchmarks they can instead be drawn on the
/// device (<see cref="CreateRandom"/>), which makes a 7B shape in a second instead of a 15 GB host fill.
/// </summary>
internal sealed class CudaWeights : IDisposable
{
    private CudaWeights(ModelConfig config, DeviceBuffer embed, DeviceBuffer finalNorm, DeviceBuffer? lmHead, CudaLayer[] layers)
    {
        Embed = embed;
        FinalNorm = finalNorm;
        SeparateLmHead = lmHead;
        Layers = layers;
        Bytes = embed.Bytes + finalNorm.Bytes + (lmHead?.Bytes ?? 0);
        foreach (CudaLayer layer in layers)
        {
            foreach (DeviceBuffer? b in new[] { layer.InputNorm, layer.PostAttentionNorm, layer.QNorm, layer.KNorm, layer.Qkv, layer.QkvBias, layer.O, layer.OBias, layer.GateUp, layer.GateUpBias, layer.Down, layer.DownBias })
            {
                Bytes += b?.Bytes ?? 0;
            }
        }
        _ = config;
    }

    public DeviceBuffer Embed { get; }
    public DeviceBuffer FinalNorm { get; }
    public DeviceBuffer? SeparateLmHead { get; }
    /// <summary>The vocabulary projection: the embedding itself when tied.</summary>
    public ulong LmHead => (SeparateLmHead ?? Embed).Pointer;
    public CudaLayer[] Layers { get; }
    public long Bytes { get; }

    public static CudaWeights Upload(ModelConfig config, ModelWeights weights, CudaDevice device)
    {
        using var uploader = new WeightUploader();
        DeviceBuffer Single(TensorView view) => uploader.Upload(view);
        DeviceBuffer Concat(params TensorView[] views) => uploader.Upload(views);
        DeviceBuffer? ConcatOptional(params TensorView?[] views)
        {
            if (Array.TrueForAll(views, v => v is null))
            {
                return null;
            }
            if (Array.Exists(views, v => v is null))
            {
                throw new NotSupportedException("a fused projection has a bias on some of its parts only.");
            }
            return uploader.Upload(Array.ConvertAll(views, v => v!));
        }

        var layers = new CudaLayer[config.NumLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            LayerWeights w = weights.Layers[i];
            layers[i] = new CudaLayer
            {
                InputNorm = Single(w.InputNorm),
                PostAttentionNorm = Single(w.PostAttentionNorm),
                QNorm = w.QNorm is null ? null : Single(w.QNorm),
                KNorm = w.KNorm is null ? null : Single(w.KNorm),
                Qkv = Concat(w.QProj, w.KProj, w.VProj),
                QkvBias = ConcatOptional(w.QBias, w.KBias, w.VBias),
                O = Single(w.OProj),
                OBias = w.OBias is null ? null : Single(w.OBias),
                GateUp = Concat(w.GateProj, w.UpProj),
                GateUpBias = ConcatOptional(w.GateBias, w.UpBias),
                Down = Single(w.DownProj),
                DownBias = w.DownBias is null ? null : Single(w.DownBias),
            };
        }
        DeviceBuffer embed = Single(weights.EmbedTokens);
        DeviceBuffer? lmHead = ReferenceEquals(weights.LmHead, weights.EmbedTokens) ? null : Single(weights.LmHead);
        DeviceBuffer finalNorm = Single(weights.FinalNorm);
        device.Synchronize();
        return new CudaWeights(config, embed, finalNorm, lmHead, layers);
    }

    /// <summary>Weights U(-scale, scale) drawn on the device from <paramref name="seed"/>, norms 1 (vLLM's dummy load).</summary>
    public static CudaWeights CreateRandom(ModelConfig config, CudaDevice device, CudaKernels kernels, float scale, ulong seed)
    {
        ulong tensorIndex = 0;
        DeviceBuffer Random(long elements)
        {
            var buffer = new DeviceBuffer(elements * 2);
            FillUniform.Launch(kernels, device.Stream, buffer.Pointer, elements, seed * 0x9E3779B97F4A7C15UL + ++tensorIndex, scale, 0f);
            return buffer;
        }
        DeviceBuffer Ones(long elements)
        {
            var buffer = new DeviceBuffer(elements * 2);
            FillUniform.Launch(kernels, device.Stream, buffer.Pointer, elements, 0, 0f, 1f);
            return buffer;
        }
        long h = config.HiddenSize, q = config.QSize, kv = config.KvSize, inter = config.IntermediateSize;
        var layers = new CudaLayer[config.NumLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            layers[i] = new CudaLayer
            {
                InputNorm = Ones(h),
                PostAttentionNorm = Ones(h),
                QNorm = config.QkNorm ? Ones(config.HeadDim) : null,
                KNorm = config.QkNorm ? Ones(config.HeadDim) : null,
                Qkv = Random((q + 2 * kv) * h),
                QkvBias = config.QkvBias ? Random(q + 2 * kv) : null,
                O = Random(h * q),
                OBias = config.OProjBias ? Random(h) : null,
                GateUp = Random(2 * inter * h),
                GateUpBias = config.MlpBias ? Random(2 * inter) : null,
                Down = Random(h * inter),
                DownBias = config.MlpBias ? Random(h) : null,
            };
        }
        DeviceBuffer embed = Random(config.VocabSize * h);
        DeviceBuffer? lmHead = config.TieWordEmbeddings ? null : Random(config.VocabSize * h);
        DeviceBuffer finalNorm = Ones(h);
        device.Synchronize();
        return new CudaWeights(config, embed, finalNorm, lmHead, layers);
    }

    public void Dispose()
    {
        foreach (CudaLayer layer in Layers)
        {
            layer.Dispose();
        }
        Embed.Dispose();
        FinalNorm.Dispose();
        SeparateLmHead?.Dispose();
    }
}
