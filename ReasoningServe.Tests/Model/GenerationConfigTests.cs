using ReasoningServe.Inference.Model;

namespace ReasoningServe.Tests.Model;

public sealed class GenerationConfigTests
{
    [Fact]
    public void Reads_sampling_defaults_and_eos_list()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("generation_config.json"), """
            {"bos_token_id": 151643, "do_sample": true, "eos_token_id": [151645, 151643], "pad_token_id": 151643,
             "temperature": 0.6, "top_k": 20, "top_p": 0.95, "min_p": 0.0, "repetition_penalty": 1.05,
             "max_new_tokens": 2048, "transformers_version": "4.51.0"}
            """);
        GenerationConfig g = GenerationConfig.FromFolder(dir.Path);
        Assert.Equal([151645, 151643], g.EosTokenIds);
        Assert.Equal(0.6f, g.Temperature);
        Assert.Equal(20, g.TopK);
        Assert.Equal(0.95f, g.TopP);
        Assert.Equal(0f, g.MinP);
        Assert.Equal(1.05f, g.RepetitionPenalty);
        Assert.Equal(2048, g.MaxNewTokens);
        Assert.True(g.DoSample);
    }

    [Fact]
    public void Single_eos_id_and_absent_fields_stay_unset()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("generation_config.json"), """{"eos_token_id": 2}""");
        GenerationConfig g = GenerationConfig.FromFolder(dir.Path);
        Assert.Equal([2], g.EosTokenIds);
        Assert.Null(g.Temperature);
        Assert.Null(g.DoSample);
    }

    [Fact]
    public void Absent_file_gives_empty_config()
    {
        using var dir = new TempDirectory();
        Assert.Same(GenerationConfig.Empty, GenerationConfig.FromFolder(dir.Path));
    }

    [Fact]
    public void Malformed_value_names_the_file()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("generation_config.json"), """{"temperature": "hot"}""");
        var e = Assert.Throws<ModelLoadException>(() => GenerationConfig.FromFolder(dir.Path));
        Assert.Contains("generation_config.json", e.Message);
        Assert.Contains("'temperature' must be a number", e.Message);
    }
}
