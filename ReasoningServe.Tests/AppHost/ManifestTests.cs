using System.Text.Json;
using ReasoningServe.AppHost.Hosting;
using ReasoningServe.AppHost.LLM;
using ReasoningServe.AppHost.Publishing;

namespace ReasoningServe.Tests.AppHost;

public sealed class ManifestTests
{
    private static readonly string CommittedManifest = Path.Combine(AppHostTestSupport.RepositoryRoot, "aspire-manifest.json");

    /// <summary>Runs the AppHost's real publisher; the output goes next to the committed file so relative paths match.</summary>
    private static string Publish(params string[] extraArgs)
    {
        var output = Path.Combine(AppHostTestSupport.RepositoryRoot, $"aspire-manifest.test-{Guid.NewGuid():N}.json");
        try
        {
            var (exitCode, log) = AppHostTestSupport.RunAppHost(Path.Combine(AppHostTestSupport.RepositoryRoot, "ReasoningServe.AppHost"),
                ["--publisher", "manifest", "--output-path", output, .. extraArgs]);
            Assert.True(exitCode == 0, log);
            return File.ReadAllText(output);
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public void Committed_manifest_is_what_the_AppHost_publishes()
    {
        var published = Publish();

        Assert.True(published == File.ReadAllText(CommittedManifest),
            "aspire-manifest.json is stale: regenerate it with `dotnet run --project ReasoningServe.AppHost -- --publisher manifest --output-path ../aspire-manifest.json` from ReasoningServe.AppHost/.\n" + published);
    }

    [Fact]
    public void Committed_manifest_obeys_the_schema_and_every_expression_resolves()
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(CommittedManifest));

        Assert.Empty(ManifestValidator.Validate(manifest));
        var resources = manifest.RootElement.GetProperty("resources");
        Assert.Equal("container.v0", resources.GetProperty("cache").GetProperty("type").GetString());
        Assert.Equal("container.v1", resources.GetProperty("inference").GetProperty("type").GetString());
        Assert.Equal("project.v0", resources.GetProperty("api").GetProperty("type").GetString());
        var apiHttp = resources.GetProperty("api").GetProperty("bindings").GetProperty("http");
        Assert.True(apiHttp.GetProperty("external").GetBoolean());
        Assert.False(apiHttp.TryGetProperty("port", out _));
        Assert.True(resources.GetProperty("cache-password").GetProperty("inputs").GetProperty("value").GetProperty("secret").GetBoolean());
    }

    [Fact]
    public void Committed_manifest_paths_resolve_from_its_folder_as_azd_resolves_them()
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(CommittedManifest));
        var resources = manifest.RootElement.GetProperty("resources");
        var build = resources.GetProperty("inference").GetProperty("build");

        var context = Path.GetFullPath(build.GetProperty("context").GetString()!, AppHostTestSupport.RepositoryRoot);
        var dockerfile = Path.GetFullPath(build.GetProperty("dockerfile").GetString()!, AppHostTestSupport.RepositoryRoot);
        Assert.True(File.Exists(Path.Combine(context, "ReasoningServe.sln")), $"build.context {context} is not the repository root");
        Assert.True(File.Exists(dockerfile), $"build.dockerfile {dockerfile} does not exist");
        Assert.True(File.Exists(Path.GetFullPath(resources.GetProperty("api").GetProperty("path").GetString()!, AppHostTestSupport.RepositoryRoot)));
    }

    [Fact]
    public void Inference_container_listens_where_its_binding_says_and_uses_CUDA_for_a_GPU_accelerator()
    {
        var builder = DistributedApplication.CreateBuilder(["--publisher", "manifest"]);
        var llm = builder.AddLLM(new LLMConfig { ModelId = "qwq", ModelSource = LLMConfig.DefaultModelSource, AcceleratorType = "H100" });
        builder.AddOpenAIApp("api", [llm], port: 9000);

        var json = ManifestPublisher.ToJson(builder.Resources, builder.ExecutionContext, AppHostTestSupport.RepositoryRoot);

        using var manifest = JsonDocument.Parse(json);
        Assert.Empty(ManifestValidator.Validate(manifest));
        var inference = manifest.RootElement.GetProperty("resources").GetProperty("inference");
        var args = inference.GetProperty("args").EnumerateArray().Select(a => a.GetString()).ToList();
        string? Flag(string name) => args[args.IndexOf(name) + 1];
        Assert.Equal("cuda", Flag("--device"));
        Assert.Equal("0.0.0.0", Flag("--host"));
        Assert.Equal("{inference.bindings.http.targetPort}", Flag("--port"));
        Assert.Equal(LLMResource.ImageModelPath, Flag("--model"));
        Assert.Equal("qwq", Flag("--served-model-name"));
        Assert.Equal(8080, inference.GetProperty("bindings").GetProperty("http").GetProperty("targetPort").GetInt32());
        Assert.False(inference.GetProperty("build").TryGetProperty("args", out _));
        // --port is the local port only: the Container App's ingress serves 80 in front of targetPort.
        Assert.False(manifest.RootElement.GetProperty("resources").GetProperty("api").GetProperty("bindings").GetProperty("http").TryGetProperty("port", out _));
    }

    [Fact]
    public void A_model_folder_of_the_repository_is_built_into_the_image_through_MODEL_DIR()
    {
        var folder = Path.Combine(AppHostTestSupport.RepositoryRoot, "models", $"test-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            var builder = DistributedApplication.CreateBuilder(["--publisher", "manifest"]);
            builder.AddLLM(new LLMConfig { ModelId = "other", ModelSource = folder });

            var json = ManifestPublisher.ToJson(builder.Resources, builder.ExecutionContext, AppHostTestSupport.RepositoryRoot);

            using var manifest = JsonDocument.Parse(json);
            Assert.Empty(ManifestValidator.Validate(manifest));
            var inference = manifest.RootElement.GetProperty("resources").GetProperty("inference");
            Assert.Equal($"models/{Path.GetFileName(folder)}", inference.GetProperty("build").GetProperty("args").GetProperty(LLMResource.ModelDirectoryBuildArg).GetString());
            Assert.Contains(LLMResource.ImageModelPath, inference.GetProperty("args").EnumerateArray().Select(a => a.GetString()));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void A_model_folder_outside_the_build_context_cannot_be_published()
    {
        var folder = Directory.CreateTempSubdirectory("rs-model-").FullName;
        try
        {
            var builder = DistributedApplication.CreateBuilder(["--publisher", "manifest"]);

            var error = Assert.Throws<AppHostConfigurationException>(() => builder.AddLLM(new LLMConfig { ModelId = "outside", ModelSource = folder }));

            Assert.Contains("outside the repository", error.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Validator_enforces_the_container_v1_rules_and_azds_ingress_port()
    {
        using var manifest = JsonDocument.Parse("""
            {"$schema": "https://json.schemastore.org/aspire-8.0.json", "resources": {
              "both": {"type": "container.v1", "image": "x:1", "build": {"context": ".", "dockerfile": "Dockerfile"}},
              "neither": {"type": "container.v1", "args": ["a"]},
              "partial": {"type": "container.v1", "build": {"context": ".", "stage": "final", "args": {"A": "{ghost.value}"}}},
              "web": {"type": "container.v1", "image": "x:1", "workingDirectory": "/",
                      "bindings": {"http": {"scheme": "http", "protocol": "tcp", "transport": "http", "port": 8000, "targetPort": 8080, "external": true}}}}}
            """);

        var errors = ManifestValidator.Validate(manifest);

        Assert.Equal(7, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("both:", StringComparison.Ordinal) && e.Contains("exactly one"));
        Assert.Contains(errors, e => e.StartsWith("neither:", StringComparison.Ordinal) && e.Contains("exactly one"));
        Assert.Contains(errors, e => e.StartsWith("partial.build:", StringComparison.Ordinal) && e.Contains("'dockerfile'"));
        Assert.Contains(errors, e => e.StartsWith("partial.build:", StringComparison.Ordinal) && e.Contains("'stage'"));
        Assert.Contains(errors, e => e.Contains("{ghost.value}"));
        Assert.Contains(errors, e => e.StartsWith("web.bindings.http.port", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("web:", StringComparison.Ordinal) && e.Contains("'workingDirectory'"));
    }

    [Fact]
    public void Validator_reports_expressions_that_name_missing_resources_or_bindings()
    {
        using var manifest = JsonDocument.Parse("""
            {"$schema": "https://json.schemastore.org/aspire-8.0.json", "resources": {
              "api": {"type": "project.v0", "path": "a.csproj",
                      "env": {"A": "{nothing.bindings.http.url}", "B": "{api.bindings.grpc.url}", "C": "{api.connectionString}"},
                      "bindings": {"http": {"scheme": "http", "protocol": "tcp", "transport": "websocket"}}},
              "odd": {"type": "redis.v0"}}}
            """);

        var errors = ManifestValidator.Validate(manifest);

        Assert.Equal(5, errors.Count);
        Assert.Contains(errors, e => e.Contains("{nothing.bindings.http.url}"));
        Assert.Contains(errors, e => e.Contains("{api.bindings.grpc.url}"));
        Assert.Contains(errors, e => e.Contains("{api.connectionString}"));
        Assert.Contains(errors, e => e.Contains("transport"));
        Assert.Contains(errors, e => e.Contains("redis.v0"));
    }

    [Fact]
    public void Seed_yaml_translated_to_the_default_model_publishes_the_same_topology_as_the_default_app()
    {
        var fromYaml = Publish("--config", Path.Combine(AppHostTestSupport.RepositoryRoot, "examples", "serve_default.yaml"));

        Assert.Equal(File.ReadAllText(CommittedManifest), fromYaml);
    }

    [Fact]
    public void Secrets_appear_in_the_manifest_only_as_parameters()
    {
        const string Password = "cachePassword0123456789";
        const string Token = "hf_secretTokenValue42";
        var builder = DistributedApplication.CreateBuilder(["--publisher", "manifest", "--Parameters:cache-password", Password]);
        var cache = builder.AddRedis("cache");
        var llm = builder.AddLLM(new LLMConfig { ModelId = "m", ModelSource = "org/m", EnvVars = { ["HF_TOKEN"] = Token, ["LOG_LEVEL"] = "info" } })
            .WithReference(cache);
        builder.AddOpenAIApp("api", [llm]);

        var json = ManifestPublisher.ToJson(builder.Resources, builder.ExecutionContext, AppHostTestSupport.RepositoryRoot);

        Assert.DoesNotContain(Password, json);
        Assert.DoesNotContain(Token, json);
        using var manifest = JsonDocument.Parse(json);
        Assert.Empty(ManifestValidator.Validate(manifest));
        var inference = manifest.RootElement.GetProperty("resources").GetProperty("inference");
        Assert.Equal("{inference-hf-token.value}", inference.GetProperty("env").GetProperty("HF_TOKEN").GetString());
        Assert.Equal("info", inference.GetProperty("env").GetProperty("LOG_LEVEL").GetString());
        var parameter = manifest.RootElement.GetProperty("resources").GetProperty("inference-hf-token").GetProperty("inputs").GetProperty("value");
        Assert.True(parameter.GetProperty("secret").GetBoolean());
    }

    [Fact]
    public void Replicas_are_not_written_and_the_Api_names_the_service_once()
    {
        var builder = DistributedApplication.CreateBuilder(["--publisher", "manifest"]);
        var llm = builder.AddLLM(new LLMConfig
        {
            ModelId = "m",
            ModelSource = "org/m",
            DeploymentConfig = { Autoscaling = { MinReplicas = 2, MaxReplicas = 4 } },
        });
        builder.AddOpenAIApp("api", [llm]);

        var json = ManifestPublisher.ToJson(builder.Resources, builder.ExecutionContext, AppHostTestSupport.RepositoryRoot);

        Assert.DoesNotContain("replica", json, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\"services__inference__http__0\"", json);
        Assert.DoesNotContain("services__inference__http__1", json);
    }
}
