using System.Text.Json;
using System.Text.RegularExpressions;
using ReasoningServe.Tests.Serving;

namespace ReasoningServe.Tests.AppHost;

/// <summary>
/// No Docker engine runs here, so the images cannot be built in CI; these check what can go wrong without building:
/// the stages, that every file copied from the build context exists, and that the port agrees with the manifest.
/// </summary>
public partial class DockerfileTests
{
    public static TheoryData<string, string> Images => new()
    {
        { "docker/inference.Dockerfile", "ReasoningServe.Inference.dll" },
        { "docker/api.Dockerfile", "ReasoningServe.Api.dll" },
    };

    [Theory]
    [MemberData(nameof(Images))]
    public void Dockerfile_builds_in_the_sdk_image_runs_its_dll_and_copies_only_what_exists(string file, string dll)
    {
        string[] lines = Instructions(file);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build", lines[0]);
        Assert.Equal(2, lines.Count(l => l.StartsWith("FROM ", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal) && l.Contains(dll, StringComparison.Ordinal));
        foreach (string copy in lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from=")))
        {
            string source = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            string path = Path.Combine(TestData.Root, source);
            Assert.True(source == "." || File.Exists(path) || Directory.Exists(path), $"{file}: {copy} copies a path that is not in the repository");
        }
    }

    [Fact]
    public void Inference_image_listens_on_the_manifest_binding_port_and_has_the_cuda_compile_headers()
    {
        string[] lines = Instructions("docker/inference.Dockerfile");
        using JsonDocument manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestData.Root, "aspire-manifest.json")));
        int targetPort = manifest.RootElement.GetProperty("resources").GetProperty("inference")
            .GetProperty("bindings").GetProperty("http").GetProperty("targetPort").GetInt32();
        Assert.Contains($"EXPOSE {targetPort}", lines);
        Assert.Contains(lines, l => l.StartsWith("FROM nvidia/cuda:13.", StringComparison.Ordinal));
        // NVRTC compiles our kernels at start-up and includes cuda_bf16.h, which the runtime image lacks.
        Assert.Contains(lines, l => l.Contains("cuda-nvrtc-dev", StringComparison.Ordinal) && l.Contains("cuda-cudart-dev", StringComparison.Ordinal));
    }

    /// <summary>The Dockerfile's instructions, continuation lines joined, comments dropped.</summary>
    private static string[] Instructions(string file)
    {
        string text = File.ReadAllText(Path.Combine(TestData.Root, file));
        text = Continuation().Replace(text, " ");
        return [.. text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))];
    }

    [GeneratedRegex(@"\\\r?\n\s*")]
    private static partial Regex Continuation();
}
