using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using ReasoningServe.Inference.Serving;

namespace ReasoningServe.Tests.Serving;

public class StartupReportTests
{
    [Fact]
    public async Task The_server_reports_its_model_device_and_a_kv_cache_sized_by_max_num_seqs_and_max_model_len()
    {
        await using var server = await InferenceServer.StartAsync("--device", "cpu", "--max-num-seqs", "3");
        StartupReport report = server.Services.GetRequiredService<StartupReport>();

        using JsonDocument config = JsonDocument.Parse(File.ReadAllText(Path.Combine(InferenceServer.FixtureModel, "config.json")));
        Assert.Equal("tiny", report.Model);
        Assert.Equal("cpu", report.Device);
        Assert.Equal(config.RootElement.GetProperty("num_hidden_layers").GetInt32(), report.Layers);
        Assert.Equal(config.RootElement.GetProperty("architectures")[0].GetString(), report.Architecture);
        // The CPU's 4 GiB would hold far more: the cache is capped at what 3 sequences of 256 tokens can use.
        Assert.Equal(3 * (256 / report.BlockSize), report.KvBlocks);
        Assert.Equal(256, report.MaxModelLen);

        string[] lines = [.. report.Lines()];
        Assert.StartsWith("Loaded tiny (", lines[0]);
        Assert.Contains(" on cpu in ", lines[0]);
        Assert.Contains($"{report.KvBlocks} blocks of {report.BlockSize} tokens = {3 * 256} tokens", lines[1]);
        Assert.Contains("maximum concurrency for 256-token requests: 3.00x", lines[1]);
    }
}
