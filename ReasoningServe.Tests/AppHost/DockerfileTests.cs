using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using ReasoningServe.AppHost.LLM;
using ReasoningServe.Inference.Serving;

namespace ReasoningServe.Tests.AppHost;

/// <summary>
/// No Docker engine runs where the tests run, so the images cannot be built here: these tests read the Dockerfiles
/// as Docker would and check what can be checked without building — stages, the files each COPY needs, and that the
/// ports and defaults in the images are the ones the committed manifest deploys them with.
/// </summary>
public sealed class DockerfileTests
{
    private static readonly string Root = AppHostTestSupport.RepositoryRoot;
    private static readonly string InferenceDockerfile = Path.Combine(Root, "docker", "inference.Dockerfile");
    private static readonly string ApiDockerfile = Path.Combine(Root, "docker", "api.Dockerfile");

    public static TheoryData<string> Dockerfiles => new() { "docker/inference.Dockerfile", "docker/api.Dockerfile" };

    private static JsonElement ManifestResource(string name)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "aspire-manifest.json")));
        return manifest.RootElement.GetProperty("resources").GetProperty(name).Clone();
    }

    private static int TargetPort(string resource) =>
        ManifestResource(resource).GetProperty("bindings").GetProperty("http").GetProperty("targetPort").GetInt32();

    private static string ManifestFlag(string resource, string flag)
    {
        var args = ManifestResource(resource).GetProperty("args").EnumerateArray().Select(a => a.GetString()!).ToList();
        return args[args.IndexOf(flag) + 1];
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Every_stage_starts_from_a_tagged_image_and_copies_only_from_earlier_stages(string dockerfile)
    {
        var (_, stages) = DockerfileDocument.Parse(Path.Combine(Root, dockerfile));

        Assert.NotEmpty(stages);
        var seen = new List<string>();
        foreach (var stage in stages)
        {
            Assert.Matches(@"^[a-z0-9.\-]+(/[a-z0-9._\-]+)+:[A-Za-z0-9._\-]+$", stage.BaseImage);
            Assert.DoesNotContain("$", stage.BaseImage);
            Assert.False(stage.BaseImage.EndsWith(":latest", StringComparison.Ordinal), stage.BaseImage);
            foreach (var copy in stage.All("COPY").Select(DockerCopy.Parse).Where(c => c.From is not null))
            {
                Assert.True(seen.Contains(copy.From!), $"COPY --from={copy.From} in stage {stage.Name} names no earlier stage");
            }
            if (stage.Name is not null)
            {
                seen.Add(stage.Name);
            }
        }
        Assert.Equal("mcr.microsoft.com/dotnet/sdk:10.0", stages[0].BaseImage);
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Every_COPY_source_is_in_the_build_context_and_not_dockerignored(string dockerfile)
    {
        var ignore = new DockerIgnore(Path.Combine(Root, ".dockerignore"));
        var (_, stages) = DockerfileDocument.Parse(Path.Combine(Root, dockerfile));

        var sources = stages.SelectMany(s => s.All("COPY")).Select(DockerCopy.Parse).Where(c => c.From is null).SelectMany(c => c.Sources).ToList();

        Assert.NotEmpty(sources);
        foreach (var source in sources)
        {
            Assert.DoesNotContain("$", source);
            var path = Path.Combine(Root, source);
            Assert.True(File.Exists(path) || Directory.Exists(path), $"{dockerfile}: COPY source '{source}' does not exist in the build context");
            Assert.False(ignore.IsIgnored(source), $"{dockerfile}: COPY source '{source}' is excluded by .dockerignore");
            if (Directory.Exists(path))
            {
                foreach (var file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories))
                {
                    var relative = Path.GetRelativePath(Root, file);
                    var buildOutput = relative.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj");
                    Assert.True(ignore.IsIgnored(relative) == buildOutput,
                        buildOutput ? $"build output {relative} would be sent to the image" : $"{relative} would be missing from the image");
                }
            }
        }
    }

    [Fact]
    public void Dockerignore_keeps_build_outputs_tokenizers_and_GPU_bundles_out_of_the_context()
    {
        var ignore = new DockerIgnore(Path.Combine(Root, ".dockerignore"));

        Assert.True(ignore.IsIgnored("ReasoningServe.Inference/bin/Release/net10.0/ReasoningServe.Inference.dll"));
        Assert.True(ignore.IsIgnored("ReasoningServe.ServiceDefaults/obj/project.assets.json"));
        Assert.True(ignore.IsIgnored("testdata/tokenizers/qwen3/tokenizer.json"));
        Assert.True(ignore.IsIgnored(".gpu-cuda/dotnet-rt.tar.xz"));
        Assert.True(ignore.IsIgnored(".git/HEAD"));
        Assert.False(ignore.IsIgnored("models/default/model.safetensors"));
        Assert.False(ignore.IsIgnored("Directory.Build.props"));
        Assert.False(ignore.IsIgnored("ReasoningServe.Inference/Backends/Cuda/Kernels/common.cuh"));
    }

    [Fact]
    public void Inference_image_runs_on_CUDA_runtime_with_the_ASP_NET_runtime_and_the_headers_NVRTC_needs()
    {
        var (_, stages) = DockerfileDocument.Parse(InferenceDockerfile);
        var final = stages[^1];

        var cuda = Regex.Match(final.BaseImage, @"^docker\.io/nvidia/cuda:(\d+)\.(\d+)\.(\d+)-runtime-ubuntu(\d+\.\d+)$");
        Assert.True(cuda.Success, final.BaseImage);
        // The backend loads libnvrtc/libcublas .so.13 or .so.12 (Backends/Cuda/Native/CudaLibraries.cs).
        Assert.Contains(cuda.Groups[1].Value, new[] { "12", "13" });
        var runtimeCopy = final.All("COPY").Select(DockerCopy.Parse).Single(c => c.Destination == "/usr/share/dotnet");
        var runtimeStage = stages.Single(s => s.Name == runtimeCopy.From);
        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:10.0", runtimeStage.BaseImage);
        // The runtime is copied from an image of the same Ubuntu release, so its native dependencies match.
        Assert.Equal("24.04", cuda.Groups[4].Value);
        Assert.EndsWith("-noble", runtimeStage.BaseImage);
        var run = string.Join('\n', final.All("RUN").Select(r => r.Arguments));
        Assert.Contains("cuda-cudart-dev-", run);
        Assert.Contains("test -f /usr/local/cuda/include/cuda_bf16.h", run);
        Assert.Contains("libicu", run);
        Assert.Equal("/usr/local/cuda", final.Environment()["CUDA_HOME"]);
        Assert.Equal(["dotnet", "ReasoningServe.Inference.dll"], final.ExecForm("ENTRYPOINT"));
        Assert.Contains(final.All("USER"), u => u.Arguments != "root");
    }

    [Fact]
    public void Manifest_builds_the_inference_image_from_this_Dockerfile()
    {
        var build = ManifestResource("inference").GetProperty("build");

        Assert.Equal(InferenceDockerfile, Path.GetFullPath(build.GetProperty("dockerfile").GetString()!, Root));
        Assert.Equal(Root.TrimEnd('/'), Path.GetFullPath(build.GetProperty("context").GetString()!, Root).TrimEnd('/'));
    }

    [Fact]
    public void Inference_image_listens_on_the_manifests_target_port()
    {
        var (_, stages) = DockerfileDocument.Parse(InferenceDockerfile);
        var final = stages[^1];
        var port = TargetPort("inference");

        Assert.Equal(LLMBuilderExtensions.ContainerHttpPort, port);
        Assert.Equal([port.ToString()], final.All("EXPOSE").Select(e => e.Arguments));
        Assert.Equal(port.ToString(), final.Environment()["Inference__Port"]);
        Assert.Equal("{inference.bindings.http.targetPort}", ManifestFlag("inference", "--port"));
        Assert.Equal("{inference.bindings.http.targetPort}", ManifestResource("inference").GetProperty("env").GetProperty("HTTP_PORTS").GetString());
    }

    [Fact]
    public void Inference_image_defaults_serve_what_the_default_app_publishes()
    {
        var (globalArgs, stages) = DockerfileDocument.Parse(InferenceDockerfile);
        var final = stages[^1];
        var environment = final.Environment();

        // The server binds these exactly as it binds its environment (Inference__X is Inference:X).
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(environment.Select(e => KeyValuePair.Create(e.Key.Replace("__", ":"), (string?)e.Value)))
            .Build();
        var options = ServingExtensions.BindOptions(configuration);
        Assert.Equal(ManifestFlag("inference", "--model"), options.Model);
        Assert.Equal(ManifestFlag("inference", "--host"), options.Host);
        Assert.Equal(TargetPort("inference"), options.Port);

        var modelCopy = final.All("COPY").Select(DockerCopy.Parse).Single(c => c.From is null && c.Destination.TrimEnd('/') == LLMResource.ImageModelPath);
        Assert.Equal(LLMConfig.DefaultModelSource + "/", Assert.Single(modelCopy.Sources));
        Assert.False(globalArgs.ContainsKey(LLMResource.ModelDirectoryBuildArg));
        Assert.Equal(LLMConfig.DefaultModelSource, final.Variables[LLMResource.ModelDirectoryBuildArg]);

        var command = final.ExecForm("CMD").ToList();
        foreach (var flag in new[] { "--served-model-name", "--reasoning-parser", "--device" })
        {
            Assert.Equal(ManifestFlag("inference", flag), command[command.IndexOf(flag) + 1]);
        }
    }

    [Fact]
    public void Api_image_runs_on_ASP_NET_and_listens_on_the_manifests_target_port()
    {
        var (_, stages) = DockerfileDocument.Parse(ApiDockerfile);
        var final = stages[^1];
        var port = TargetPort("api");

        Assert.Equal("mcr.microsoft.com/dotnet/aspnet:10.0", final.BaseImage);
        Assert.Equal(LLMBuilderExtensions.ContainerHttpPort, port);
        Assert.Equal([port.ToString()], final.All("EXPOSE").Select(e => e.Arguments));
        Assert.Equal(port.ToString(), final.Environment()["ASPNETCORE_HTTP_PORTS"]);
        Assert.Equal("{api.bindings.http.targetPort}", ManifestFlag("api", "--port"));
        Assert.Equal(["dotnet", "ReasoningServe.Api.dll"], final.ExecForm("ENTRYPOINT"));
    }
}
