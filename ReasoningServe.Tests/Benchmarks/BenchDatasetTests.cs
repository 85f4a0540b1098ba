using ReasoningServe.Inference.Benchmarks;
using ReasoningServe.Inference.Tokenization;
using ReasoningServe.Tests.Serving;

namespace ReasoningServe.Tests.Benchmarks;

/// <summary>The workloads' prompts, built with the real tokenizers.</summary>
public class BenchDatasetTests
{
    private static Tokenizer Real(string name)
    {
        string folder = TestData.TokenizerFolder(name);
        Skip.IfNot(File.Exists(Path.Combine(folder, Tokenizer.FileName)), $"testdata/tokenizers/{name} is missing: run tools/fetch-tokenizers.sh");
        return Tokenizer.FromFolder(folder);
    }

    [SkippableTheory]
    [InlineData("qwen3")]
    [InlineData("llama3_1")]
    [InlineData("deepseek_v3")]
    public void Random_prompts_reencode_to_exactly_their_ids_and_lengths_stay_in_range(string name)
    {
        Tokenizer tokenizer = Real(name);
        var options = BenchOptions.Parse(["--random-input-len", "64", "--random-output-len", "20", "--random-range-ratio", "0.5"]);
        List<BenchPrompt> prompts = BenchDataset.Build(options, tokenizer, count: 40, seed: 1);

        Assert.Equal(40, prompts.Count);
        foreach (BenchPrompt p in prompts)
        {
            Assert.InRange(p.TokenIds.Length, 32, 96);
            Assert.InRange(p.OutputLen, 10, 30);
            Assert.Equal(p.TokenIds, tokenizer.Encode(p.Text));
            Assert.DoesNotContain(p.TokenIds, id => tokenizer.IsAdded(id) || tokenizer.IsSpecial(id));
        }
        Assert.True(prompts.Select(p => p.TokenIds.Length).Distinct().Count() > 10, "lengths should spread over the range");
    }

    [SkippableFact]
    public void Prefix_workload_prompts_share_the_prefix_and_differ_after_it()
    {
        Tokenizer tokenizer = Real("qwen3");
        var options = BenchOptions.Parse(["--dataset-name", "prefix", "--random-prefix-len", "32", "--random-input-len", "16"]);
        List<BenchPrompt> prompts = BenchDataset.Build(options, tokenizer, count: 8, seed: 7);

        Assert.All(prompts, p => Assert.Equal(48, p.TokenIds.Length));
        Assert.All(prompts, p => Assert.Equal(prompts[0].TokenIds[..32], p.TokenIds[..32]));
        Assert.All(prompts, p => Assert.Equal(p.TokenIds, tokenizer.Encode(p.Text)));
        string prefixText = tokenizer.Decode(prompts[0].TokenIds[..32]);
        Assert.All(prompts, p => Assert.StartsWith(prefixText, p.Text, StringComparison.Ordinal));
        Assert.Equal(8, prompts.Select(p => string.Join(',', p.TokenIds[32..])).Distinct().Count());
    }

    [SkippableFact]
    public void The_seed_decides_the_prompts()
    {
        Tokenizer tokenizer = Real("qwen3");
        var options = BenchOptions.Parse(["--random-input-len", "24", "--random-range-ratio", "0.2"]);
        string Key(int seed) => string.Join('|', BenchDataset.Build(options, tokenizer, 5, seed).Select(p => p.Text + "#" + p.OutputLen));

        Assert.Equal(Key(3), Key(3));
        Assert.NotEqual(Key(3), Key(4));
    }

    [SkippableFact]
    public void Reasoning_prompts_are_questions_with_their_token_counts()
    {
        Tokenizer tokenizer = Real("qwen3");
        var options = BenchOptions.Parse(["--dataset-name", "reasoning", "--endpoint", "/v1/chat/completions", "--random-output-len", "256"]);
        List<BenchPrompt> prompts = BenchDataset.Build(options, tokenizer, count: 6, seed: 0);

        Assert.All(prompts, p => Assert.Contains('?', p.Text));
        Assert.Equal(6, prompts.Select(p => p.Text).Distinct().Count());
        Assert.All(prompts, p => Assert.Equal(tokenizer.Encode(p.Text), p.TokenIds));
        Assert.All(prompts, p => Assert.Equal(256, p.OutputLen));
    }
}
