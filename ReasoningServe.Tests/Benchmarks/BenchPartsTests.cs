using System.Text;
using ReasoningServe.Inference.Benchmarks;

namespace ReasoningServe.Tests.Benchmarks;

/// <summary>Flags, statistics and stream reading of `bench serve`, each on its own.</summary>
public class BenchPartsTests
{
    [Fact]
    public void Unknown_flags_and_bad_values_are_refused_by_name()
    {
        Assert.Contains("--num-promts", Assert.Throws<BenchException>(() => BenchOptions.Parse(["--num-promts", "3"])).Message);
        Assert.Contains("--dataset-name", Assert.Throws<BenchException>(() => BenchOptions.Parse(["--dataset-name", "sharegpt"])).Message);
        Assert.Contains("--percentile-metrics", Assert.Throws<BenchException>(() => BenchOptions.Parse(["--percentile-metrics", "ttft,foo"])).Message);
        Assert.Contains("chat", Assert.Throws<BenchException>(() => BenchOptions.Parse(["--dataset-name", "reasoning"])).Message);
        Assert.Contains("--random-prefix-len", Assert.Throws<BenchException>(() => BenchOptions.Parse(["--dataset-name", "prefix"])).Message);
    }

    [Fact]
    public void Flags_take_vllm_spellings_and_random_workloads_ignore_eos()
    {
        var o = BenchOptions.Parse(["--request_rate=2.5", "--max-concurrency", "4", "--metric-percentiles", "50,99.9", "--sweep-concurrency", "1,4,16,64"]);
        Assert.Equal(2.5, o.RequestRate);
        Assert.Equal(4, o.MaxConcurrency);
        Assert.Equal([50, 99.9], o.MetricPercentiles);
        Assert.Equal([1, 4, 16, 64], o.SweepConcurrency!);
        Assert.True(o.IgnoreEos);
        Assert.False(BenchOptions.Parse(["--dataset-name", "reasoning", "--endpoint", "/v1/chat/completions"]).IgnoreEos);
        Assert.True(double.IsPositiveInfinity(BenchOptions.Parse([]).RequestRate));
        var sampling = BenchOptions.Parse(["--temperature", "0.6", "--top-p", "0.95", "--top_k=20", "--min-p", "0.05"]);
        Assert.Equal((0.6, 0.95, 20, 0.05), (sampling.Temperature, sampling.TopP, sampling.TopK, sampling.MinP));
        Assert.Null(BenchOptions.Parse([]).TopP);
    }

    [Fact]
    public void The_recorded_command_line_reads_back_in_a_shell()
    {
        Assert.Equal("bench serve --model 'my model' --endpoint /v1/completions --x 'it'\\''s'",
            BenchCommand.CommandLine(["--model", "my model", "--endpoint", "/v1/completions", "--x", "it's"]));
    }

    [Fact]
    public void Statistics_match_numpy_definitions()
    {
        // Reference values from Python's statistics module (mean, median, pstdev, quantiles method="inclusive",
        // which is numpy.percentile's default linear interpolation).
        var stats = new LatencyStats([3.0, 1.0, 4.0, 1.5, 9.0, 2.6]);
        Assert.Equal(3.5166666666666666, stats.Mean, 12);
        Assert.Equal(2.8, stats.Median, 12);
        Assert.Equal(2.639707475375928, stats.Std, 12);
        Assert.Equal(8.75, stats.Percentile(99), 12);
        Assert.Equal(6.5, stats.Percentile(90), 12);
        Assert.Equal(1.775, stats.Percentile(25), 12);
        Assert.Equal(0, new LatencyStats([]).Percentile(99));
    }

    [Fact]
    public void Chat_chunks_count_reasoning_once_when_a_server_sends_both_field_names()
    {
        var reader = new StreamChunkReader();
        Assert.Equal(ChunkKind.Other, Read(reader, """{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"""));
        Assert.Equal(ChunkKind.Tokens, Read(reader, """{"choices":[{"delta":{"reasoning_content":"Let","reasoning":"Let"}}]}"""));
        Assert.Equal(ChunkKind.Tokens, Read(reader, """{"choices":[{"delta":{"reasoning":" me","reasoning_content":" me"}}]}"""));
        Assert.Equal(ChunkKind.Tokens, Read(reader, """{"choices":[{"delta":{"reasoning":" think"}}]}"""));
        Assert.Equal(ChunkKind.Tokens, Read(reader, """{"choices":[{"delta":{"content":"caf\u00e9 \"ok\""},"finish_reason":null}]}"""));
        Assert.Equal(ChunkKind.Other, Read(reader,
            """{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":11,"completion_tokens_details":{"reasoning_tokens":3}}}"""));
        Assert.Equal(ChunkKind.Done, Read(reader, "[DONE]"));

        Assert.Equal("Let me think", reader.Reasoning.ToString());
        Assert.Equal("café \"ok\"", reader.Content.ToString());
        Assert.Equal((9, 11, 3), (reader.PromptTokens, reader.CompletionTokens, reader.ReasoningTokens));
    }

    [Fact]
    public void Completion_chunks_append_text_and_null_usage_is_no_usage()
    {
        var reader = new StreamChunkReader();
        Assert.Equal(ChunkKind.Tokens, Read(reader, """{"id":"x","choices":[{"index":0,"text":" hello","logprobs":null}],"usage":null}"""));
        Assert.Equal(ChunkKind.Other, Read(reader, """{"choices":[{"index":0,"text":"","finish_reason":"length"}]}"""));
        Assert.Equal(" hello", reader.Content.ToString());
        Assert.Null(reader.CompletionTokens);
    }

    private static ChunkKind Read(StreamChunkReader reader, string data) => reader.Read("message", Encoding.UTF8.GetBytes(data));
}
