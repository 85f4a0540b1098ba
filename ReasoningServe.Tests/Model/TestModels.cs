using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Tests.Model;

/// <summary>
/// Tiny Qwen2 / Qwen3 / Llama model folders with random weights, written as real HF folders (config.json +
/// model.safetensors) so tests go through the same loader as production.
/// </summary>
internal static class TestModels
{
    public const string Qwen2Config = """
        {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64, "intermediate_size": 96,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 128,
         "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": true, "hidden_act": "silu",
         "max_position_embeddings": 4096, "torch_dtype": "bfloat16", "eos_token_id": 2, "bos_token_id": 1,
         "use_sliding_window": false}
        """;

    /// <summary>head_dim 24 on purpose: Qwen3's head_dim is explicit and differs from hidden / heads.</summary>
    public const string Qwen3Config = """
        {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 64, "intermediate_size": 96,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 24, "vocab_size": 128,
         "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": false, "attention_bias": false,
         "hidden_act": "silu", "max_position_embeddings": 4096, "dtype": "bfloat16", "eos_token_id": [2, 3]}
        """;

    /// <summary>original_max_position_embeddings is small so llama3 scaling changes frequencies at these head sizes.</summary>
    public const string LlamaConfig = """
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 96,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "vocab_size": 128,
         "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": false, "attention_bias": false,
         "mlp_bias": false, "hidden_act": "silu", "max_position_embeddings": 4096, "torch_dtype": "bfloat16",
         "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 64},
         "bos_token_id": 1, "eos_token_id": [2, 3]}
        """;

    public static IEnumerable<(string Name, TensorView Tensor)> Tensors(ModelWeights w, ModelConfig config)
    {
        yield return ("embed", w.EmbedTokens);
        foreach (LayerWeights l in w.Layers)
        {
            foreach (TensorView? t in new[] { l.InputNorm, l.QProj, l.KProj, l.VProj, l.OProj, l.QBias, l.KBias, l.VBias, l.OBias,
                l.QNorm, l.KNorm, l.PostAttentionNorm, l.GateProj, l.UpProj, l.DownProj, l.GateBias, l.UpBias, l.DownBias })
            {
                if (t is not null)
                {
                    yield return (t.Name, t);
                }
            }
        }
        yield return ("norm", w.FinalNorm);
        if (!config.TieWordEmbeddings)
        {
            yield return ("lm_head", w.LmHead);
        }
    }

    /// <summary>
    /// Writes config.json and model.safetensors with weights U(-scale, scale) and norms 1 + U(-0.2, 0.2), stored as
    /// <paramref name="dtype"/>. Returns the config.
    /// </summary>
    public static ModelConfig WriteFolder(string directory, string configJson, TensorDType dtype = TensorDType.BF16, ulong seed = 1, float scale = 0.15f)
    {
        string configPath = Path.Combine(directory, "config.json");
        File.WriteAllText(configPath, configJson);
        ModelConfig config = ModelConfig.FromFile(configPath);
        var random = new Random((int)seed);
        var tensors = new List<SafeTensorsWriter.Tensor>();
        using ModelWeights shapes = DummyWeights.Create(config, TensorDType.F32, seed, scale);
        foreach ((_, TensorView t) in Tensors(shapes, config))
        {
            float[] values = TensorConvert.ToSingleArray(t);
            if (t.Name.EndsWith("norm.weight", StringComparison.Ordinal))
            {
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = 1f + (float)(random.NextDouble() * 0.4 - 0.2);
                }
            }
            tensors.Add(new SafeTensorsWriter.Tensor(t.Name, dtype, t.Shape, values));
        }
        SafeTensorsWriter.Write(Path.Combine(directory, "model.safetensors"), tensors);
        return config;
    }
}
