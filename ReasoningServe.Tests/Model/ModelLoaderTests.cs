using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Tests.Model;

public sealed class ModelLoaderTests
{
    [Theory]
    [InlineData(TestModels.Qwen2Config)]
    [InlineData(TestModels.Qwen3Config)]
    [InlineData(TestModels.LlamaConfig)]
    public void Loads_a_model_folder_with_every_tensor_the_architecture_needs(string configJson)
    {
        using var dir = new TempDirectory();
        TestModels.WriteFolder(dir.Path, configJson, TensorDType.BF16);
        File.WriteAllText(dir.File("generation_config.json"), """{"temperature": 0.7}""");
        using LoadedModel model = ModelLoader.Load(dir.Path);
        ModelConfig c = model.Config;
        Assert.Equal(0.7f, model.Generation.Temperature);
        Assert.Equal(c.NumLayers, model.Weights.Layers.Count);
        LayerWeights layer = model.Weights.Layers[1];
        Assert.Equal([c.QSize, c.HiddenSize], layer.QProj.Shape);
        Assert.Equal([c.KvSize, c.HiddenSize], layer.VProj.Shape);
        Assert.Equal([c.HiddenSize, c.QSize], layer.OProj.Shape);
        Assert.Equal(c.QkvBias, layer.QBias is not null);
        Assert.Equal(c.QkNorm, layer.KNorm is not null);
        Assert.Equal(c.TieWordEmbeddings, ReferenceEquals(model.Weights.LmHead, model.Weights.EmbedTokens));
        Assert.Equal("model.layers.1.mlp.down_proj.weight", layer.DownProj.Name);
    }

    [Fact]
    public void Missing_tensor_names_the_file_and_the_tensor()
    {
        using var dir = new TempDirectory();
        ModelConfig config = TestModels.WriteFolder(dir.Path, TestModels.Qwen2Config);
        using (LoadedModel complete = ModelLoader.Load(dir.Path))
        {
            var kept = TestModels.Tensors(complete.Weights, config)
                .Where(t => t.Tensor.Name != "model.layers.1.self_attn.k_proj.bias")
                .Select(t => new SafeTensorsWriter.Tensor(t.Tensor.Name, t.Tensor.DType, t.Tensor.Shape, TensorConvert.ToSingleArray(t.Tensor)))
                .ToList();
            SafeTensorsWriter.Write(dir.File("rewritten.safetensors"), kept);
        }
        File.Move(dir.File("rewritten.safetensors"), dir.File("model.safetensors"), overwrite: true);
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(dir.Path));
        Assert.Contains(dir.File("model.safetensors"), e.Message);
        Assert.Contains("'model.layers.1.self_attn.k_proj.bias' is missing", e.Message);
    }

    [Fact]
    public void Shape_that_disagrees_with_config_is_reported()
    {
        using var dir = new TempDirectory();
        TestModels.WriteFolder(dir.Path, TestModels.Qwen2Config);
        File.WriteAllText(dir.File("config.json"), TestModels.Qwen2Config.Replace("\"intermediate_size\": 96", "\"intermediate_size\": 128"));
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(dir.Path));
        Assert.Contains("model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight' has shape [96, 64]", e.Message);
        Assert.Contains("config.json implies [128, 64]", e.Message);
    }

    [Fact]
    public void Folder_without_weights_says_which_files_it_looked_for()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), TestModels.Qwen2Config);
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(dir.Path));
        Assert.Contains("no model.safetensors or model.safetensors.index.json", e.Message);
    }

    [Fact]
    public void Dummy_load_needs_only_config_and_is_deterministic()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), TestModels.Qwen3Config);
        using LoadedModel a = ModelLoader.Load(dir.Path, LoadFormat.Dummy);
        using LoadedModel b = ModelLoader.Load(dir.Path, LoadFormat.Dummy);
        Assert.Equal(TensorDType.BF16, a.Weights.EmbedTokens.DType);
        float[] qa = TensorConvert.ToSingleArray(a.Weights.Layers[1].QProj);
        Assert.Equal(qa, TensorConvert.ToSingleArray(b.Weights.Layers[1].QProj));
        Assert.All(qa, v => Assert.InRange(v, -1.01e-3f, 1.01e-3f));
        Assert.Contains(qa, v => v != 0);
        Assert.NotEqual(qa[..10], TensorConvert.ToSingleArray(a.Weights.Layers[1].KProj)[..10]);
        Assert.All(TensorConvert.ToSingleArray(a.Weights.Layers[0].QNorm!), v => Assert.Equal(1f, v));
        Assert.All(TensorConvert.ToSingleArray(a.Weights.FinalNorm), v => Assert.Equal(1f, v));
    }

    [Fact]
    public void Dummy_weights_filled_in_parallel_chunks_equal_one_sequential_splitmix64_stream_per_tensor()
    {
        // vocab 40000 x hidden 64: the embedding spans three of the fill's 1M-element chunks
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), TestModels.Qwen2Config);
        ModelConfig config = ModelConfig.FromFile(dir.File("config.json")) with { VocabSize = 40000 };
        using ModelWeights weights = DummyWeights.Create(config, TensorDType.F32, seed: 3, scale: 0.5f);
        float[] embed = TensorConvert.ToSingleArray(weights.EmbedTokens);
        // Which tensor of the build order the embedding is: the one whose stream starts with its first value.
        ulong tensor = 1;
        while (tensor < 64 && Sequential(unchecked(3 * 0x9E3779B97F4A7C15UL) + tensor, 1)[0] != embed[0])
        {
            tensor++;
        }
        Assert.Equal(Sequential(unchecked(3 * 0x9E3779B97F4A7C15UL) + tensor, embed.Length), embed);

        static float[] Sequential(ulong state, int count)
        {
            var values = new float[count];
            for (int i = 0; i < count; i++)
            {
                ulong z = state += 0x9E3779B97F4A7C15UL;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                z ^= z >> 31;
                values[i] = (float)(((z >> 11) * (1.0 / (1UL << 53)) * 2 - 1) * 0.5f);
            }
            return values;
        }
    }

    [Fact]
    public void Load_format_names_parse_like_vllm_flags()
    {
        Assert.Equal(LoadFormat.Dummy, LoadFormatParser.Parse("dummy"));
        Assert.Equal(LoadFormat.Auto, LoadFormatParser.Parse("auto"));
        Assert.Throws<ArgumentException>(() => LoadFormatParser.Parse("gguf"));
    }
}
