using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Inference.Model;

/// <summary>
/// HF tensor names and the shapes the config implies for them. Both the safetensors loader and the dummy initializer
/// build <see cref="ModelWeights"/> through <see cref="Build"/>, so they cannot disagree on what a model contains.
/// </summary>
internal static class WeightLayout
{
    /// <summary>Returns the tensor called <c>name</c> with the expected shape, or null for an optional one that is absent.</summary>
    public delegate TensorView? TensorSource(string name, int[] shape, bool required, bool isNorm);

    public static ModelWeights Build(ModelConfig config, TensorSource source, IDisposable? owner)
    {
        int h = config.HiddenSize;
        TensorView Req(string name, int[] shape, bool isNorm = false) => source(name, shape, true, isNorm)!;
        TensorView? Opt(bool present, string name, int[] shape) => present ? source(name, shape, true, false) : null;

        TensorView embed = Req("model.embed_tokens.weight", [config.VocabSize, h]);
        var layers = new LayerWeights[config.NumLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"model.layers.{i}.";
            layers[i] = new LayerWeights
            {
                InputNorm = Req(p + "input_layernorm.weight", [h], isNorm: true),
                QProj = Req(p + "self_attn.q_proj.weight", [config.QSize, h]),
                KProj = Req(p + "self_attn.k_proj.weight", [config.KvSize, h]),
                VProj = Req(p + "self_attn.v_proj.weight", [config.KvSize, h]),
                OProj = Req(p + "self_attn.o_proj.weight", [h, config.QSize]),
                QBias = Opt(config.QkvBias, p + "self_attn.q_proj.bias", [config.QSize]),
                KBias = Opt(config.QkvBias, p + "self_attn.k_proj.bias", [config.KvSize]),
                VBias = Opt(config.QkvBias, p + "self_attn.v_proj.bias", [config.KvSize]),
                OBias = Opt(config.OProjBias, p + "self_attn.o_proj.bias", [h]),
                QNorm = config.QkNorm ? Req(p + "self_attn.q_norm.weight", [config.HeadDim], isNorm: true) : null,
                KNorm = config.QkNorm ? Req(p + "self_attn.k_norm.weight", [config.HeadDim], isNorm: true) : null,
                PostAttentionNorm = Req(p + "post_attention_layernorm.weight", [h], isNorm: true),
                GateProj = Req(p + "mlp.gate_proj.weight", [config.IntermediateSize, h]),
                UpProj = Req(p + "mlp.up_proj.weight", [config.IntermediateSize, h]),
                DownProj = Req(p + "mlp.down_proj.weight", [h, config.IntermediateSize]),
                GateBias = Opt(config.MlpBias, p + "mlp.gate_proj.bias", [config.IntermediateSize]),
                UpBias = Opt(config.MlpBias, p + "mlp.up_proj.bias", [config.IntermediateSize]),
                DownBias = Opt(config.MlpBias, p + "mlp.down_proj.bias", [h]),
            };
        }
        TensorView norm = Req("model.norm.weight", [h], isNorm: true);
        TensorView lmHead = config.TieWordEmbeddings ? embed : Req("lm_head.weight", [config.VocabSize, h]);
        return new ModelWeights(embed, layers, norm, lmHead, owner);
    }

    /// <summary>Reads every tensor from a checkpoint, checking each shape against the config.</summary>
    public static ModelWeights FromCheckpoint(ModelConfig config, SafeTensorsCheckpoint checkpoint, string configPath)
    {
        return Build(config, (name, shape, _, _) =>
        {
            TensorView tensor = checkpoint.Get(name);
            if (!tensor.Shape.AsSpan().SequenceEqual(shape))
            {
                throw new ModelLoadException(
                    $"{FileOf(checkpoint, name)}: tensor '{name}' has shape {tensor.ShapeText} but {configPath} implies [{string.Join(", ", shape)}].");
            }
            return tensor;
        }, checkpoint);
    }

    private static string FileOf(SafeTensorsCheckpoint checkpoint, string name)
    {
        foreach (SafeTensorsFile file in checkpoint.Files)
        {
            if (file.Tensors.ContainsKey(name))
            {
                return file.Path;
            }
        }
        return name;
    }
}
