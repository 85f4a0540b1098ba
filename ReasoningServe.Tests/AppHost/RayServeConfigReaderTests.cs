using ReasoningServe.AppHost.LLM;

namespace ReasoningServe.Tests.AppHost;

public sealed class RayServeConfigReaderTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "rs-yaml-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public void Seed_QwQ_config_maps_every_field_one_to_one()
    {
        var (application, diagnostics) = RayServeConfigReader.Read(Path.Combine(AppHostTestSupport.RepositoryRoot, "examples", "serve_qwq_32b.yaml"));

        Assert.Empty(diagnostics);
        Assert.NotNull(application);
        Assert.Equal("reasoning-llm-app", application.Name);
        Assert.Equal(8000, application.ApiPort);
        var deployment = Assert.Single(application.Deployments);
        Assert.Equal("inference", deployment.Name);
        var config = deployment.Config;
        Assert.Equal("my-qwq-32B", config.ModelId);
        Assert.Equal("Qwen/QwQ-32B", config.ModelSource);
        Assert.Equal("A100-40G", config.AcceleratorType);
        Assert.Equal(1, config.DeploymentConfig.Autoscaling.MinReplicas);
        Assert.Equal(2, config.DeploymentConfig.Autoscaling.MaxReplicas);
        Assert.Equal(32, config.DeploymentConfig.Autoscaling.TargetOngoingRequests);
        Assert.Equal(8, config.EngineKwargs.TensorParallelSize);
        Assert.Equal(32768, config.EngineKwargs.MaxModelLen);
        Assert.Equal("deepseek_r1", config.EngineKwargs.ReasoningParser);
    }

    [Fact]
    public void Every_supported_field_reaches_LLMConfig()
    {
        var path = AppHostTestSupport.WriteTempFile(_directory, "all.yaml", """
            http_options:
              port: 9123
            applications:
            - name: everything
              import_path: ray.serve.llm:build_openai_app
              args:
                llm_configs:
                - model_loading_config: {model_id: m, model_source: /models/m}
                  llm_engine: vLLM
                  accelerator_type: CPU
                  deployment_config:
                    autoscaling_config:
                      min_replicas: 2
                      max_replicas: 5
                      initial_replicas: 3
                      target_ongoing_requests: 4.5
                      upscale_delay_s: 7
                      downscale_delay_s: 70
                  engine_kwargs:
                    tensor_parallel_size: 2
                    max_model_len: 4096
                    reasoning_parser: qwen3
                    gpu_memory_utilization: 0.85
                    max_num_seqs: 64
                    max_num_batched_tokens: 2048
                    load_format: dummy
                    device: cpu
                  runtime_env:
                    env_vars: {HF_TOKEN: hf_abc, LOG_LEVEL: debug}
            """);

        var (application, diagnostics) = RayServeConfigReader.Read(path);

        Assert.Empty(diagnostics);
        Assert.Equal(9123, application!.ApiPort);
        var config = Assert.Single(application.Deployments).Config;
        Assert.Equal(("m", "/models/m", "CPU"), (config.ModelId, config.ModelSource, config.AcceleratorType));
        var scaling = config.DeploymentConfig.Autoscaling;
        Assert.Equal((2, 5, 3, 3), (scaling.MinReplicas, scaling.MaxReplicas, scaling.InitialReplicas, scaling.StartReplicas));
        Assert.Equal(4.5, scaling.TargetOngoingRequests);
        Assert.Equal((TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(70)), (scaling.UpscaleDelay, scaling.DownscaleDelay));
        var engine = config.EngineKwargs;
        Assert.Equal((2, 4096, "qwen3", 0.85, 64, 2048, "dummy", "cpu"),
            (engine.TensorParallelSize, engine.MaxModelLen, engine.ReasoningParser, engine.GpuMemoryUtilization, engine.MaxNumSeqs,
             engine.MaxNumBatchedTokens, engine.LoadFormat, engine.Device));
        Assert.Equal(new Dictionary<string, string> { ["HF_TOKEN"] = "hf_abc", ["LOG_LEVEL"] = "debug" }, config.EnvVars);
    }

    [Fact]
    public void Unknown_fields_are_errors_named_by_their_full_path()
    {
        var path = AppHostTestSupport.WriteTempFile(_directory, "typo.yaml", """
            applications:
            - import_path: ray.serve.llm:build_openai_app
              args:
                llm_configs:
                - model_loading_config: {model_id: m}
                  engine_kwargs: {tensor_paralel_size: 2}
                  deployment_config:
                    autoscaling_config: {min_replica: 1}
            colour: blue
            """);

        var (application, diagnostics) = RayServeConfigReader.Read(path);

        Assert.Null(application);
        var errors = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.Path).Order().ToArray();
        Assert.Equal(
        [
            "applications[0].args.llm_configs[0].deployment_config.autoscaling_config.min_replica",
            "applications[0].args.llm_configs[0].engine_kwargs.tensor_paralel_size",
            "colour",
        ], errors);
    }

    [Fact]
    public void Ray_fields_without_effect_here_are_warnings_named_by_path_and_the_rest_still_maps()
    {
        var path = AppHostTestSupport.WriteTempFile(_directory, "ignored.yaml", """
            proxy_location: EveryNode
            applications:
            - import_path: ray.serve.llm:build_openai_app
              route_prefix: /llm
              args:
                llm_configs:
                - model_loading_config: {model_id: m}
                  placement_group_config: {bundles: [{GPU: 1}]}
                  engine_kwargs: {dtype: bfloat16, max_model_len: 1024}
            """);

        var (application, diagnostics) = RayServeConfigReader.Read(path);

        Assert.NotNull(application);
        Assert.All(diagnostics, d => Assert.Equal(DiagnosticSeverity.Warning, d.Severity));
        Assert.Equal(
        [
            "applications[0].args.llm_configs[0].engine_kwargs.dtype",
            "applications[0].args.llm_configs[0].placement_group_config",
            "applications[0].route_prefix",
            "proxy_location",
        ], diagnostics.Select(d => d.Path).Order().ToArray());
        Assert.Equal(1024, application.Deployments[0].Config.EngineKwargs.MaxModelLen);
        // Without model_source Ray loads model_id itself.
        Assert.Equal("m", application.Deployments[0].Config.ModelSource);
    }

    [Fact]
    public void LLM_configs_given_as_paths_are_read_from_files_next_to_the_config()
    {
        AppHostTestSupport.WriteTempFile(Path.Combine(_directory, "models"), "a.yaml", """
            model_loading_config: {model_id: model-a, model_source: ./weights/a}
            engine_kwargs: {reasoning_parser: deepseek_r1}
            """);
        AppHostTestSupport.WriteTempFile(Path.Combine(_directory, "models"), "b.yaml", "model_loading_config: {model_id: Model B}\n");
        var path = AppHostTestSupport.WriteTempFile(_directory, "app.yaml", """
            applications:
            - import_path: ray.serve.llm:build_openai_app
              args:
                llm_configs: [models/a.yaml, models/b.yaml]
            """);

        var (application, diagnostics) = RayServeConfigReader.Read(path);

        Assert.Empty(diagnostics);
        Assert.Equal(["inference-model-a", "inference-model-b"], application!.Deployments.Select(d => d.Name).ToArray());
        var first = application.Deployments[0].Config;
        Assert.Equal(("model-a", "./weights/a", "deepseek_r1"), (first.ModelId, first.ModelSource, first.EngineKwargs.ReasoningParser));
        Assert.Equal(Path.Combine(_directory, "models"), first.BaseDirectory);
    }

    [Theory]
    [InlineData("import_path: my_module:app", "applications[0].import_path")]
    [InlineData("import_path: ray.serve.llm:build_openai_app\n  args: {llm_configs: [missing.yaml]}", "applications[0].args.llm_configs[0]")]
    [InlineData("import_path: ray.serve.llm:build_openai_app\n  args: {llm_configs: [{model_loading_config: {model_source: x}}]}",
        "applications[0].args.llm_configs[0].model_loading_config.model_id")]
    [InlineData("import_path: ray.serve.llm:build_openai_app\n  args: {llm_configs: [{model_loading_config: {model_id: m}, lora_config: {}}]}",
        "applications[0].args.llm_configs[0].lora_config")]
    public void Configs_that_cannot_be_served_are_rejected_with_the_offending_field(string application, string path)
    {
        var file = AppHostTestSupport.WriteTempFile(_directory, "bad.yaml", $"applications:\n- {application}\n");

        var (result, diagnostics) = RayServeConfigReader.Read(file);

        Assert.Null(result);
        Assert.Contains(diagnostics, d => d.Severity == DiagnosticSeverity.Error && d.Path == path);
    }
}
