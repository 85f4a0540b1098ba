using System.Text.Json;
using ReasoningServe.Inference.Benchmarks;
using ReasoningServe.Tests.Serving;

namespace ReasoningServe.Tests.Benchmarks;

/// <summary>Runs `bench serve` in process with the fixture model's tokenizer and reads back what it saved.</summary>
internal static class BenchRun
{
    public static async Task<JsonElement> SaveAsync(string baseUrl, params string[] args)
    {
        var (json, _, _) = await RunAsync(baseUrl, args);
        return json;
    }

    public static Task<(JsonElement Json, string Table, string Output)> SweepAsync(string baseUrl, params string[] args) => RunAsync(baseUrl, args);

    private static async Task<(JsonElement, string, string)> RunAsync(string baseUrl, string[] args)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"bench-{Guid.NewGuid():N}");
        string file = Path.Combine(dir, "result.json");
        try
        {
            var output = new StringWriter();
            int exit = await BenchCommand.RunAsync(
                ["serve", "--base-url", baseUrl, "--tokenizer", InferenceServer.FixtureModel, "--disable-tqdm",
                    "--result-dir", dir, "--result-filename", "result.json", .. args],
                output, TextWriter.Null);
            Assert.True(exit == 0, output.ToString());
            Assert.True(File.Exists(Path.ChangeExtension(file, ".png")), "the chart should be written beside the result: " + output);
            string table = File.Exists(Path.ChangeExtension(file, ".md")) ? File.ReadAllText(Path.ChangeExtension(file, ".md")) : "";
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(file));
            return (doc.RootElement.Clone(), table, output.ToString());
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }
}
