using System.Text.Json;

namespace ReasoningServe.Inference.Model;

/// <summary>
/// Parses a Hugging Face config.json into <see cref="ModelConfig"/>. Accepts both transformers 4 spellings
/// (torch_dtype, rope_theta, rope_scaling) and transformers 5 ones (dtype, rope_parameters).
/// </summary>
internal static class ModelConfigReader
{
    public static ModelConfig Read(string path)
    {
        using JsonDocument document = JsonFields.Load(path, required: true)!;
        return Parse(new JsonFields(path, document.RootElement));
    }

    private static ModelConfig Parse(JsonFields json)
    {
        string architecture = ReadArchitecture(json);
        bool isQwen2 = architecture == "Qwen2ForCausalLM";
        bool isQwen3 = architecture == "Qwen3ForCausalLM";

        int hidden = json.RequiredInt("hidden_size");
        int heads = json.RequiredInt("num_attention_heads");
        int kvHeads = json.OptionalInt("num_key_value_heads") ?? heads;
        int headDim = json.OptionalInt("head_dim") ?? (heads > 0 ? hidden / heads : 0);
        if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
        {
            throw json.Error($"num_attention_heads ({heads}) must be a positive multiple of num_key_value_heads ({kvHeads})");
        }
        if (headDim <= 0 || headDim % 2 != 0)
        {
            throw json.Error($"head_dim ({headDim}) must be positive and even");
        }
        string activation = json.OptionalString("hidden_act") ?? "silu";
        if (activation != "silu")
        {
            throw json.Error($"hidden_act '{activation}' is not supported (only silu)");
        }
        if (json.OptionalBool("use_sliding_window") == true)
        {
            throw json.Error("use_sliding_window=true is not supported");
        }
        bool attentionBias = json.OptionalBool("attention_bias") ?? false;

        JsonElement? ropeParameters = json.OptionalObject("rope_parameters");
        float ropeTheta = json.OptionalFloat("rope_theta")
            ?? (ropeParameters is { } rp ? json.Nested("rope_parameters", rp).OptionalFloat("rope_theta") : null)
            ?? 10000f;

        return new ModelConfig
        {
            Architecture = architecture,
            VocabSize = json.RequiredInt("vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = json.RequiredInt("intermediate_size"),
            NumLayers = json.RequiredInt("num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            RmsNormEps = json.OptionalFloat("rms_norm_eps") ?? 1e-6f,
            RopeTheta = ropeTheta,
            RopeScaling = ReadRopeScaling(json, ropeParameters),
            TieWordEmbeddings = json.OptionalBool("tie_word_embeddings") ?? false,
            QkvBias = isQwen2 || attentionBias,
            OProjBias = !isQwen2 && attentionBias,
            MlpBias = json.OptionalBool("mlp_bias") ?? false,
            QkNorm = isQwen3,
            MaxPositionEmbeddings = json.OptionalInt("max_position_embeddings") ?? 32768,
            TorchDtype = json.OptionalString("torch_dtype") ?? json.OptionalString("dtype") ?? "bfloat16",
            EosTokenIds = json.OptionalIntOrList("eos_token_id"),
            BosTokenId = json.OptionalInt("bos_token_id"),
        };
    }

    private static string ReadArchitecture(JsonFields json)
    {
        if (!json.Root.TryGetProperty("architectures", out JsonElement list) || list.ValueKind != JsonValueKind.Array
            || list.GetArrayLength() == 0 || list[0].ValueKind != JsonValueKind.String)
        {
            throw json.Error("field 'architectures' is missing or not a list of names");
        }
        string architecture = list[0].GetString()!;
        return architecture switch
        {
            "Qwen2ForCausalLM" or "Qwen3ForCausalLM" or "LlamaForCausalLM" => architecture,
            _ => throw json.Error($"unsupported architecture '{architecture}' (supported: Qwen2ForCausalLM, Qwen3ForCausalLM, LlamaForCausalLM)"),
        };
    }

    /// <summary>rope_scaling (transformers 4) or rope_parameters (5); "default" or null mean no scaling.</summary>
    private static RopeScaling? ReadRopeScaling(JsonFields json, JsonElement? ropeParameters)
    {
        JsonElement? scaling = json.OptionalObject("rope_scaling") ?? ropeParameters;
        if (scaling is not { } element)
        {
            return null;
        }
        string field = json.Root.TryGetProperty("rope_scaling", out JsonElement s) && s.ValueKind == JsonValueKind.Object ? "rope_scaling" : "rope_parameters";
        JsonFields fields = json.Nested(field, element);
        string type = fields.OptionalString("rope_type") ?? fields.OptionalString("type") ?? "default";
        return type switch
        {
            "default" => null,
            "llama3" => new RopeScaling(
                "llama3",
                fields.RequiredFloat("factor"),
                fields.RequiredFloat("low_freq_factor"),
                fields.RequiredFloat("high_freq_factor"),
                fields.RequiredInt("original_max_position_embeddings")),
            _ => throw json.Error($"{field} type '{type}' is not supported (only default and llama3)"),
        };
    }
}
