using ReasoningServe.Inference.Model;

namespace ReasoningServe.Tests.Model;

public sealed class ModelConfigTests
{
    private static ModelConfig Parse(string json, TempDirectory dir)
    {
        File.WriteAllText(dir.File("config.json"), json);
        return ModelConfig.FromFile(dir.File("config.json"));
    }

    private static ModelLoadException ParseFails(string json, TempDirectory dir)
    {
        File.WriteAllText(dir.File("config.json"), json);
        return Assert.Throws<ModelLoadException>(() => ModelConfig.FromFile(dir.File("config.json")));
    }

    [Fact]
    public void Qwen2_config_has_qkv_bias_and_derived_head_dim()
    {
        using var dir = new TempDirectory();
        ModelConfig c = Parse(TestModels.Qwen2Config, dir);
        Assert.Equal("Qwen2ForCausalLM", c.Architecture);
        Assert.True(c.QkvBias);
        Assert.False(c.OProjBias);
        Assert.False(c.QkNorm);
        Assert.Equal(16, c.HeadDim);
        Assert.Equal(2, c.NumKvHeads);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(1e6f, c.RopeTheta);
        Assert.Equal([2], c.EosTokenIds);
        Assert.Equal(1, c.BosTokenId);
        Assert.Equal("bfloat16", c.TorchDtype);
        Assert.Null(c.RopeScaling);
    }

    [Fact]
    public void Qwen3_config_keeps_explicit_head_dim_and_enables_qk_norm()
    {
        using var dir = new TempDirectory();
        ModelConfig c = Parse(TestModels.Qwen3Config, dir);
        Assert.True(c.QkNorm);
        Assert.False(c.QkvBias);
        Assert.Equal(24, c.HeadDim);
        Assert.Equal(96, c.QSize);
        Assert.Equal([2, 3], c.EosTokenIds);
        Assert.Equal("bfloat16", c.TorchDtype);
        Assert.Null(c.BosTokenId);
    }

    [Fact]
    public void Llama_config_reads_llama3_rope_scaling()
    {
        using var dir = new TempDirectory();
        ModelConfig c = Parse(TestModels.LlamaConfig, dir);
        Assert.Equal(new RopeScaling("llama3", 8f, 1f, 4f, 64), c.RopeScaling);
        Assert.Equal(1e-5f, c.RmsNormEps);
        Assert.Equal(1, c.NumKvHeads);
    }

    [Fact]
    public void Transformers5_rope_parameters_supply_theta_and_scaling()
    {
        using var dir = new TempDirectory();
        ModelConfig c = Parse("""
            {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 1,
             "num_attention_heads": 4, "vocab_size": 10, "dtype": "float32",
             "rope_parameters": {"rope_theta": 500000.0, "rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}
            """, dir);
        Assert.Equal(500000f, c.RopeTheta);
        Assert.Equal(new RopeScaling("llama3", 32f, 1f, 4f, 8192), c.RopeScaling);
        Assert.Equal(4, c.NumKvHeads);
        Assert.Equal("float32", c.TorchDtype);
    }

    [Fact]
    public void Default_rope_type_and_null_scaling_mean_no_scaling()
    {
        using var dir = new TempDirectory();
        const string head = """{"architectures": ["Qwen3ForCausalLM"], "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 4, """;
        Assert.Null(Parse(head + "\"rope_scaling\": null}", dir).RopeScaling);
        ModelConfig c = Parse(head + "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1000000.0}}", dir);
        Assert.Null(c.RopeScaling);
        Assert.Equal(1e6f, c.RopeTheta);
    }

    [Fact]
    public void Attention_bias_on_llama_adds_qkv_and_o_bias()
    {
        using var dir = new TempDirectory();
        ModelConfig c = Parse(TestModels.LlamaConfig.Replace("\"attention_bias\": false", "\"attention_bias\": true"), dir);
        Assert.True(c.QkvBias);
        Assert.True(c.OProjBias);
    }

    [Fact]
    public void Unsupported_architecture_is_named_with_the_file()
    {
        using var dir = new TempDirectory();
        ModelLoadException e = ParseFails(TestModels.Qwen2Config.Replace("Qwen2ForCausalLM", "GPT2LMHeadModel"), dir);
        Assert.Contains("config.json", e.Message);
        Assert.Contains("unsupported architecture 'GPT2LMHeadModel'", e.Message);
    }

    [Fact]
    public void Missing_field_is_named_with_the_file()
    {
        using var dir = new TempDirectory();
        ModelLoadException e = ParseFails(TestModels.Qwen2Config.Replace("\"hidden_size\": 64,", ""), dir);
        Assert.Contains(dir.File("config.json"), e.Message);
        Assert.Contains("'hidden_size' is missing", e.Message);
    }

    [Fact]
    public void Malformed_field_and_malformed_json_are_reported()
    {
        using var dir = new TempDirectory();
        ModelLoadException e = ParseFails(TestModels.Qwen2Config.Replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": \"two\""), dir);
        Assert.Contains("'num_hidden_layers' must be an integer", e.Message);
        e = ParseFails("{\"architectures\": [", dir);
        Assert.Contains("config.json: not valid JSON", e.Message);
    }

    [Fact]
    public void Missing_config_file_is_reported()
    {
        using var dir = new TempDirectory();
        var e = Assert.Throws<ModelLoadException>(() => ModelConfig.FromFile(dir.File("config.json")));
        Assert.Contains("config.json: file not found", e.Message);
    }
}
