using System.Text.Json;
using ReasoningServe.Tests.Serving;
using ReasoningServe.Tests.Serving.Fixtures;

namespace ReasoningServe.Tests.Benchmarks;

/// <summary>`bench serve` against the real inference server on loopback with the tiny reasoning fixture model.</summary>
public class BenchServeTests
{
    [Fact]
    public async Task Random_workload_counts_every_request_and_token_exactly_and_latencies_are_ordered()
    {
        await using InferenceServer server = await InferenceServer.StartAsync();
        JsonElement r = await BenchRun.SaveAsync(server.BaseAddress.ToString(), "--served-model-name", "tiny", "--num-prompts", "6",
            "--random-input-len", "8", "--random-output-len", "5", "--max-concurrency", "3", "--metric-percentiles", "50,90,99");

        Assert.Equal(6, r.GetProperty("completed").GetInt32());
        Assert.Equal(0, r.GetProperty("failed").GetInt32());
        Assert.Equal(6 * 8, r.GetProperty("total_input_tokens").GetInt64());
        Assert.Equal(6 * 5, r.GetProperty("total_output_tokens").GetInt64());
        Assert.All(r.GetProperty("input_lens").EnumerateArray(), n => Assert.Equal(8, n.GetInt32()));
        Assert.All(r.GetProperty("output_lens").EnumerateArray(), n => Assert.Equal(5, n.GetInt32()));
        Assert.All(r.GetProperty("errors").EnumerateArray(), e => Assert.Equal("", e.GetString()));
        foreach (string metric in new[] { "ttft", "tpot", "itl", "e2el" })
        {
            double p50 = r.GetProperty($"p50_{metric}_ms").GetDouble(), p90 = r.GetProperty($"p90_{metric}_ms").GetDouble();
            Assert.True(p50 > 0, $"{metric} p50 should be positive");
            Assert.Equal(r.GetProperty($"median_{metric}_ms").GetDouble(), p50);
            Assert.True(p50 <= p90 && p90 <= r.GetProperty($"p99_{metric}_ms").GetDouble(), $"{metric}: percentiles out of order");
            Assert.True(r.GetProperty($"std_{metric}_ms").GetDouble() >= 0);
        }
        double[] ttfts = [.. r.GetProperty("ttfts").EnumerateArray().Select(t => t.GetDouble())];
        double[] latencies = [.. r.GetProperty("latencies").EnumerateArray().Select(t => t.GetDouble())];
        for (int i = 0; i < 6; i++)
        {
            Assert.InRange(ttfts[i], double.Epsilon, latencies[i]);
        }
        // Five tokens in chunks of at least one token: the first chunk gives TTFT, at most four gaps follow.
        Assert.All(r.GetProperty("itls").EnumerateArray(), gaps => Assert.InRange(gaps.GetArrayLength(), 1, 4));
        Assert.True(r.GetProperty("output_throughput").GetDouble() > 0);
        Assert.Equal(r.GetProperty("total_input_tokens").GetInt64() + r.GetProperty("total_output_tokens").GetInt64(),
            r.GetProperty("total_token_throughput").GetDouble() * r.GetProperty("duration").GetDouble(), 6);
    }

    [Fact]
    public async Task Random_workload_on_chat_sends_text_and_still_gets_every_output_token()
    {
        await using InferenceServer server = await InferenceServer.StartAsync();
        JsonElement r = await BenchRun.SaveAsync(server.BaseAddress.ToString(), "--served-model-name", "tiny", "--endpoint", "/v1/chat/completions",
            "--num-prompts", "4", "--random-input-len", "12", "--random-output-len", "7", "--request-rate", "50", "--seed", "5");

        Assert.Equal(4, r.GetProperty("completed").GetInt32());
        Assert.Equal(4 * 7, r.GetProperty("total_output_tokens").GetInt64());
        // The server counts the chat template's tokens around the 12 of each message.
        Assert.All(r.GetProperty("input_lens").EnumerateArray(), n => Assert.True(n.GetInt32() > 12));
        Assert.Equal(50, r.GetProperty("request_rate").GetDouble());
    }

    [Fact]
    public async Task Prefix_workload_sends_the_shared_prefix_before_every_prompt()
    {
        await using InferenceServer server = await InferenceServer.StartAsync();
        JsonElement r = await BenchRun.SaveAsync(server.BaseAddress.ToString(), "--served-model-name", "tiny", "--dataset-name", "prefix",
            "--random-prefix-len", "32", "--random-input-len", "6", "--random-output-len", "3", "--num-prompts", "5", "--num-warmups", "1");

        Assert.Equal(5, r.GetProperty("completed").GetInt32());
        Assert.Equal(5 * (32 + 6), r.GetProperty("total_input_tokens").GetInt64());
        Assert.Equal(5 * 3, r.GetProperty("total_output_tokens").GetInt64());
    }

    [Fact]
    public async Task Reasoning_workload_counts_reasoning_and_content_tokens_apart()
    {
        await using InferenceServer server = await InferenceServer.StartAsync("--reasoning-parser", "qwen3");
        JsonElement r = await BenchRun.SaveAsync(server.BaseAddress.ToString(), "--served-model-name", "tiny", "--dataset-name", "reasoning",
            "--endpoint", "/v1/chat/completions", "--num-prompts", "3", "--random-output-len", "40", "--max-concurrency", "2");

        Assert.Equal(3, r.GetProperty("completed").GetInt32());
        // The fixture thinks "Let me think" (3 tokens), then answers and stops by itself.
        Assert.Equal(3 * 3, r.GetProperty("total_reasoning_tokens").GetInt64());
        Assert.All(r.GetProperty("reasoning_texts").EnumerateArray(), t => Assert.Equal(ReasoningModelBuilder.Reasoning, t.GetString()));
        Assert.All(r.GetProperty("generated_texts").EnumerateArray(), t => Assert.Equal(ReasoningModelBuilder.Content, t.GetString()));
        Assert.Equal(r.GetProperty("total_output_tokens").GetInt64() - 9, r.GetProperty("total_content_tokens").GetInt64());
        Assert.True(r.GetProperty("total_content_tokens").GetInt64() > 0);
    }

    [Fact]
    public async Task Sweep_mode_runs_each_concurrency_and_writes_one_table()
    {
        await using InferenceServer server = await InferenceServer.StartAsync();
        var (json, table, output) = await BenchRun.SweepAsync(server.BaseAddress.ToString(), "--served-model-name", "tiny",
            "--num-prompts", "4", "--random-input-len", "6", "--random-output-len", "4", "--sweep-concurrency", "1,2");

        JsonElement[] runs = [.. json.GetProperty("sweep").EnumerateArray()];
        Assert.Equal([1, 2], runs.Select(run => run.GetProperty("max_concurrency").GetInt32()));
        Assert.All(runs, run => Assert.Equal(4 * 4, run.GetProperty("total_output_tokens").GetInt64()));
        string[] rows = [.. table.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal) && !l.StartsWith("| -", StringComparison.Ordinal))];
        Assert.Equal(3, rows.Length); // header and one row per level
        Assert.StartsWith("| 1 | 4 | 0 |", rows[1]);
        Assert.StartsWith("| 2 | 4 | 0 |", rows[2]);
        Assert.Contains(rows[2], output);
        Assert.StartsWith("bench serve --base-url", json.GetProperty("command").GetString());
    }
}
