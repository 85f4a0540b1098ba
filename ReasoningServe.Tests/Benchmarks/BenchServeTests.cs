using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using ReasoningServe.Inference.Benchmarks;
using ReasoningServe.Tests.Serving;

namespace ReasoningServe.Tests.Benchmarks;

/// <summary>`bench serve` against a real server on loopback (the tiny reasoning fixture model), and against endpoints that fail.</summary>
public class BenchServeTests
{
    [Fact]
    public async Task Random_workload_counts_every_request_and_token_exactly_and_latencies_are_ordered()
    {
        await using InferenceServer server = await InferenceServer.StartAsync();
        JsonElement r = await RunAsync(server.BaseAddress.ToString(), "--num-prompts", "6", "--random-input-len", "8",
            "--random-output-len", "5", "--ignore-eos", "--max-concurrency", "3");

        Assert.Equal(6, r.GetProperty("completed").GetInt32());
        Assert.Equal(0, r.GetProperty("failed").GetInt32());
        Assert.Equal(6 * 8, r.GetProperty("total_input_tokens").GetInt64());
        Assert.Equal(6 * 5, r.GetProperty("total_output_tokens").GetInt64());
        Assert.All(r.GetProperty("output_lens").EnumerateArray(), n => Assert.Equal(5, n.GetInt32()));
        foreach (string metric in new[] { "ttft", "tpot", "itl", "e2el" })
        {
            double median = r.GetProperty($"median_{metric}_ms").GetDouble();
            Assert.True(median > 0, $"{metric} median should be positive");
            Assert.True(median <= r.GetProperty($"p99_{metric}_ms").GetDouble(), $"{metric}: p50 above p99");
        }
        Assert.True(r.GetProperty("mean_ttft_ms").GetDouble() <= r.GetProperty("mean_e2el_ms").GetDouble());
        Assert.True(r.GetProperty("output_throughput").GetDouble() > 0);
    }

    [Fact]
    public async Task Reasoning_workload_on_chat_counts_reasoning_tokens()
    {
        await using InferenceServer server = await InferenceServer.StartAsync("--reasoning-parser", "qwen3");
        JsonElement r = await RunAsync(server.BaseAddress.ToString(), "--dataset-name", "reasoning", "--endpoint", "/v1/chat/completions",
            "--num-prompts", "3", "--random-output-len", "40");

        Assert.Equal(3, r.GetProperty("completed").GetInt32());
        long output = r.GetProperty("total_output_tokens").GetInt64();
        long reasoning = r.GetProperty("total_reasoning_tokens").GetInt64();
        Assert.InRange(reasoning, 1, output - 1); // the fixture thinks, then answers
    }

    [Fact]
    public async Task A_closed_port_is_counted_as_failed_requests_not_a_crash()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        JsonElement r = await RunAsync($"http://127.0.0.1:{port}", "--model", "m", "--num-prompts", "4", "--random-input-len", "4");
        Assert.Equal(0, r.GetProperty("completed").GetInt32());
        Assert.Equal(4, r.GetProperty("failed").GetInt32());
        Assert.All(r.GetProperty("errors").EnumerateArray(), e => Assert.NotEqual("", e.GetString()));
    }

    [Fact]
    public async Task An_endpoint_answering_500_is_counted_with_its_error()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.MapPost("/v1/completions", () => Results.Json(new { error = new { message = "boom" } }, statusCode: 500));
        await app.StartAsync();

        JsonElement r = await RunAsync(app.Urls.First(), "--model", "m", "--num-prompts", "3", "--random-input-len", "4");
        Assert.Equal(3, r.GetProperty("failed").GetInt32());
        Assert.All(r.GetProperty("errors").EnumerateArray(), e => Assert.StartsWith("HTTP 500", e.GetString()));
    }

    [SkippableFact]
    public void Prefix_workload_prompts_share_the_prefix_and_differ_after_it()
    {
        var options = BenchOptions.Parse(["--dataset-name", "prefix", "--random-prefix-len", "32", "--random-input-len", "16",
            "--num-prompts", "5", "--seed", "7"]);
        List<BenchPrompt> prompts = BenchDataset.Build(options, TestData.RealTokenizer("qwen3"));
        Assert.All(prompts, p => Assert.Equal(48, p.TokenIds.Length));
        Assert.All(prompts, p => Assert.Equal(prompts[0].TokenIds[..32], p.TokenIds[..32]));
        Assert.Equal(5, prompts.Select(p => string.Join(',', p.TokenIds[32..])).Distinct().Count());
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.5)]
    public void Arrival_gaps_have_mean_one_over_rate_and_the_burstiness_spread(double burstiness)
    {
        var arrivals = new ArrivalTimes(rate: 10, burstiness, seed: 3);
        double[] gaps = [.. Enumerable.Range(0, 40_000).Select(_ => arrivals.Next())];
        double mean = gaps.Average();
        double cv = Math.Sqrt(gaps.Sum(g => (g - mean) * (g - mean)) / gaps.Length) / mean;
        Assert.InRange(mean, 0.1 * 0.97, 0.1 * 1.03);
        // A gamma law with shape k has coefficient of variation 1/sqrt(k): 1 for Poisson arrivals, 1.41 when k = 0.5.
        Assert.InRange(cv, 1 / Math.Sqrt(burstiness) * 0.95, 1 / Math.Sqrt(burstiness) * 1.05);
    }

    [Fact]
    public void Unknown_flags_and_bad_values_are_refused_by_name()
    {
        Assert.Contains("--num-promts", Assert.Throws<BenchException>(() => BenchOptions.Parse(["--num-promts", "3"])).Message);
        Assert.Contains("--dataset-name", Assert.Throws<BenchException>(() => BenchOptions.Parse(["--dataset-name", "sharegpt"])).Message);
    }

    private static async Task<JsonElement> RunAsync(string baseUrl, params string[] args)
    {
        string file = Path.Combine(Path.GetTempPath(), $"bench-{Guid.NewGuid():N}.json");
        try
        {
            var output = new StringWriter();
            int exit = await BenchCommand.RunAsync(
                ["serve", "--base-url", baseUrl, "--tokenizer", InferenceServer.FixtureModel, "--disable-tqdm", "--result-filename", file, .. args],
                output, TextWriter.Null);
            Assert.True(exit == 0, output.ToString());
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(file));
            Assert.True(File.Exists(Path.ChangeExtension(file, ".png")), "the chart should be written beside the result");
            return doc.RootElement.Clone();
        }
        finally
        {
            File.Delete(file);
            File.Delete(Path.ChangeExtension(file, ".png"));
        }
    }
}
