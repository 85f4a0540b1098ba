using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ReasoningServe.AppHost.LLM;

/// <summary>
/// Reads a Ray Serve config file (<c>serve run config.yaml</c>) whose application is
/// <c>ray.serve.llm:build_openai_app</c>, mapping each field to <see cref="LLMConfig"/> one to one.
/// Fields Ray accepts but that mean nothing here (placement groups, Ray actor options…) are warnings;
/// anything else not understood is an error, reported by its full path.
/// </summary>
internal static class RayServeConfigReader
{
    public const string OpenAIAppImportPath = "ray.serve.llm:build_openai_app";

    public static (ServeApplication? Application, IReadOnlyList<ServeConfigDiagnostic> Diagnostics) Read(string path)
    {
        var diagnostics = new List<ServeConfigDiagnostic>();
        var root = LoadMapping(path, "", diagnostics);
        if (root is null)
        {
            return (null, diagnostics);
        }
        var application = ReadRoot(root, Path.GetDirectoryName(Path.GetFullPath(path))!);
        return (diagnostics.Exists(d => d.Severity == DiagnosticSeverity.Error) ? null : application, diagnostics);
    }

    private static ServeApplication? ReadRoot(YamlSection root, string baseDirectory)
    {
        var httpOptions = root.Section("http_options");
        int? port = null;
        if (httpOptions is not null)
        {
            port = httpOptions.Int("port");
            httpOptions.Ignore("host", "the Api listens on localhost locally and on all interfaces in its container");
            httpOptions.Ignore("request_timeout_s", "the Api's timeouts are configured on the Api");
            httpOptions.Ignore("keep_alive_timeout_s", "the Api's timeouts are configured on the Api");
            httpOptions.ReportUnknownFields();
        }
        root.Ignore("proxy_location", "the Api is the only proxy");
        root.Ignore("logging_config", "every resource logs to this console, prefixed with its name");
        root.Ignore("grpc_options", "only the OpenAI HTTP API is served");
        var applications = root.Sequence("applications");
        root.ReportUnknownFields();
        if (applications is null || applications.Children.Count == 0)
        {
            root.Error("applications", "a list with one build_openai_app application is required");
            return null;
        }
        if (applications.Children.Count > 1)
        {
            root.Error("applications", $"one application is supported (it serves every model); found {applications.Children.Count}");
        }
        if (applications.Children[0] is not YamlMappingNode applicationNode)
        {
            root.Error("applications[0]", "expected a mapping");
            return null;
        }
        var application = new YamlSection(applicationNode, "applications[0]", root.Diagnostics);
        var name = application.String("name") ?? "default";
        if (application.String("route_prefix") is { } routePrefix && routePrefix != "/")
        {
            application.Diagnostics.Add(new(DiagnosticSeverity.Warning, application.PathOf("route_prefix"),
                $"ignored: the Api serves the OpenAI routes at '/', not '{routePrefix}'"));
        }
        var importPath = application.String("import_path");
        if (importPath is not (OpenAIAppImportPath or "ray.serve.llm.build_openai_app"))
        {
            application.Error("import_path", $"only {OpenAIAppImportPath} is supported, got '{importPath}'");
        }
        application.Ignore("runtime_env", "set environment variables per model in llm_configs[].runtime_env.env_vars");
        application.Ignore("deployments", "deployment settings go in llm_configs[].deployment_config");
        application.Ignore("logging_config", "every resource logs to this console, prefixed with its name");
        var args = application.Section("args");
        application.ReportUnknownFields();
        if (args is null)
        {
            application.Error("args", "args.llm_configs is required");
            return null;
        }
        var llmConfigs = args.Sequence("llm_configs");
        args.Ignore("ingress_deployment_config", "the Api runs one instance locally; its replicas are set on the deployment target");
        args.ReportUnknownFields();
        if (llmConfigs is null || llmConfigs.Children.Count == 0)
        {
            args.Error("llm_configs", "at least one LLM config is required");
            return null;
        }
        var configs = new List<LLMConfig>();
        for (var i = 0; i < llmConfigs.Children.Count; i++)
        {
            var itemPath = $"{args.PathOf("llm_configs")}[{i}]";
            var section = llmConfigs.Children[i] switch
            {
                YamlMappingNode inline => (Section: new YamlSection(inline, itemPath, args.Diagnostics), BaseDirectory: baseDirectory),
                YamlScalarNode { Value: { } file } => LoadReferencedConfig(file, itemPath, baseDirectory, args.Diagnostics),
                _ => (Section: null, BaseDirectory: baseDirectory),
            };
            if (section.Section is null)
            {
                args.Diagnostics.Add(new(DiagnosticSeverity.Error, itemPath, "expected an LLM config mapping or the path of a YAML file holding one"));
                continue;
            }
            if (ReadLLMConfig(section.Section, section.BaseDirectory) is { } config)
            {
                configs.Add(config);
            }
        }
        return new ServeApplication(name, NameDeployments(configs), port ?? LLMBuilderExtensions.DefaultApiPort);
    }

    private static (YamlSection? Section, string BaseDirectory) LoadReferencedConfig(string file, string itemPath, string baseDirectory, List<ServeConfigDiagnostic> diagnostics)
    {
        // Ray resolves these against the working directory; the config file's own folder is tried first so that a
        // config and the files it names can be moved together.
        var candidates = new[] { Path.Combine(baseDirectory, file), Path.GetFullPath(file) };
        var found = Array.Find(candidates, File.Exists);
        if (found is null)
        {
            diagnostics.Add(new(DiagnosticSeverity.Error, itemPath, $"LLM config file '{file}' not found (looked in {baseDirectory} and the working directory)"));
            return (null, baseDirectory);
        }
        return (LoadMapping(found, itemPath, diagnostics), Path.GetDirectoryName(Path.GetFullPath(found))!);
    }

    private static LLMConfig? ReadLLMConfig(YamlSection section, string baseDirectory)
    {
        var loading = section.Section("model_loading_config");
        string? modelId = null, modelSource = null;
        if (loading is not null)
        {
            modelId = loading.String("model_id");
            modelSource = loading.String("model_source");
            loading.Ignore("tokenizer_source", "the tokenizer is read from the model folder");
            loading.ReportUnknownFields();
        }
        if (modelId is null)
        {
            section.Error("model_loading_config.model_id", "required: the name clients use as `model`");
        }
        if (section.String("llm_engine") is { } engine && !engine.Equals("vLLM", StringComparison.OrdinalIgnoreCase))
        {
            section.Error("llm_engine", $"only vLLM's engine arguments are understood, got '{engine}'");
        }
        var acceleratorType = section.String("accelerator_type");
        var deployment = ReadDeploymentConfig(section.Section("deployment_config"));
        var engineKwargs = ReadEngineKwargs(section.Section("engine_kwargs"));
        var envVars = ReadRuntimeEnv(section.Section("runtime_env"));
        if (section.Has("lora_config"))
        {
            section.Error("lora_config", "LoRA adapters are not supported");
        }
        section.Ignore("placement_group_config", "each replica is one process that uses the devices it is given");
        section.Ignore("log_engine_metrics", "Inference always serves /metrics");
        section.Ignore("experimental_configs", "no experimental options are read");
        section.ReportUnknownFields();
        return modelId is null ? null : new LLMConfig
        {
            ModelId = modelId,
            // Ray loads model_id itself when model_source is absent.
            ModelSource = modelSource ?? modelId,
            AcceleratorType = acceleratorType,
            DeploymentConfig = deployment,
            EngineKwargs = engineKwargs,
            EnvVars = envVars,
            BaseDirectory = baseDirectory,
        };
    }

    private static DeploymentConfig ReadDeploymentConfig(YamlSection? section)
    {
        var config = new DeploymentConfig();
        if (section is null)
        {
            return config;
        }
        var autoscaling = config.Autoscaling;
        if (section.Int("num_replicas") is int replicas)
        {
            autoscaling.MinReplicas = autoscaling.MaxReplicas = replicas;
        }
        if (section.Section("autoscaling_config") is { } scaling)
        {
            autoscaling.MinReplicas = scaling.Int("min_replicas") ?? autoscaling.MinReplicas;
            // Ray's default max is 1 as well; a config naming only min_replicas gets a fixed count.
            autoscaling.MaxReplicas = scaling.Int("max_replicas") ?? Math.Max(autoscaling.MinReplicas, autoscaling.MaxReplicas);
            autoscaling.InitialReplicas = scaling.Int("initial_replicas");
            autoscaling.TargetOngoingRequests = scaling.Double("target_ongoing_requests") ?? autoscaling.TargetOngoingRequests;
            if (scaling.Double("upscale_delay_s") is double up)
            {
                autoscaling.UpscaleDelay = TimeSpan.FromSeconds(up);
            }
            if (scaling.Double("downscale_delay_s") is double down)
            {
                autoscaling.DownscaleDelay = TimeSpan.FromSeconds(down);
            }
            foreach (var tuning in new[] { "metrics_interval_s", "look_back_period_s", "smoothing_factor", "upscale_smoothing_factor",
                "downscale_smoothing_factor", "upscaling_factor", "downscaling_factor" })
            {
                scaling.Ignore(tuning, "the local autoscaler adds or removes one replica at a time after the delays");
            }
            scaling.ReportUnknownFields();
        }
        section.Ignore("max_ongoing_requests", "use engine_kwargs.max_num_seqs to bound concurrent requests per replica");
        section.Ignore("ray_actor_options", "replicas are processes, not Ray actors");
        section.Ignore("health_check_period_s", "replicas are probed on /health by the AppHost");
        section.Ignore("health_check_timeout_s", "replicas are probed on /health by the AppHost");
        section.Ignore("graceful_shutdown_timeout_s", "replicas get SIGTERM, then are killed after the AppHost's timeout");
        section.Ignore("graceful_shutdown_wait_loop_s", "replicas get SIGTERM, then are killed after the AppHost's timeout");
        section.Ignore("request_router_config", "the Api routes requests (least outstanding requests + prefix affinity)");
        section.ReportUnknownFields();
        return config;
    }

    private static EngineKwargs ReadEngineKwargs(YamlSection? section)
    {
        var kwargs = new EngineKwargs();
        if (section is null)
        {
            return kwargs;
        }
        kwargs.TensorParallelSize = section.Int("tensor_parallel_size");
        kwargs.MaxModelLen = section.Int("max_model_len");
        kwargs.ReasoningParser = section.String("reasoning_parser");
        kwargs.GpuMemoryUtilization = section.Double("gpu_memory_utilization");
        kwargs.MaxNumSeqs = section.Int("max_num_seqs");
        kwargs.MaxNumBatchedTokens = section.Int("max_num_batched_tokens");
        kwargs.LoadFormat = section.String("load_format");
        kwargs.Device = section.String("device");
        section.Ignore("enable_reasoning", "reasoning is enabled by reasoning_parser");
        section.Ignore("enable_prefix_caching", "the prefix cache is always on");
        section.Ignore("enable_chunked_prefill", "chunked prefill is always on");
        section.Ignore("trust_remote_code", "no model code is ever loaded; architectures are built in");
        section.Ignore("dtype", "the backend picks fp32 on CPU and bf16 on CUDA");
        section.ReportUnknownFields();
        return kwargs;
    }

    private static Dictionary<string, string> ReadRuntimeEnv(YamlSection? section)
    {
        var variables = new Dictionary<string, string>();
        if (section is null)
        {
            return variables;
        }
        if (section.Section("env_vars") is { } envVars)
        {
            foreach (var name in envVars.Keys())
            {
                if (envVars.String(name) is { } value)
                {
                    variables[name] = value;
                }
            }
            envVars.ReportUnknownFields();
        }
        foreach (var packaging in new[] { "pip", "conda", "uv", "working_dir", "py_modules", "container", "image_uri" })
        {
            section.Ignore(packaging, "replicas run this solution's Inference build, not Python packages");
        }
        section.ReportUnknownFields();
        return variables;
    }

    /// <summary>One model is "inference" (what the manifest and Api expect); several are "inference-&lt;model id&gt;".</summary>
    private static List<ServeDeployment> NameDeployments(List<LLMConfig> configs)
    {
        if (configs.Count == 1)
        {
            return [new ServeDeployment("inference", configs[0])];
        }
        var deployments = new List<ServeDeployment>();
        foreach (var config in configs)
        {
            var slug = new string(config.ModelId.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray()).Trim('-');
            var name = $"inference-{slug}";
            for (var n = 2; deployments.Exists(d => d.Name == name); n++)
            {
                name = $"inference-{slug}-{n}";
            }
            deployments.Add(new ServeDeployment(name, config));
        }
        return deployments;
    }

    private static YamlSection? LoadMapping(string path, string sectionPath, List<ServeConfigDiagnostic> diagnostics)
    {
        var where = sectionPath.Length == 0 ? path : sectionPath;
        try
        {
            using var reader = new StreamReader(path);
            var stream = new YamlStream();
            stream.Load(reader);
            if (stream.Documents.Count == 1 && stream.Documents[0].RootNode is YamlMappingNode mapping)
            {
                return new YamlSection(mapping, sectionPath, diagnostics);
            }
            diagnostics.Add(new(DiagnosticSeverity.Error, where, $"{path} must hold one YAML mapping"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or YamlException)
        {
            diagnostics.Add(new(DiagnosticSeverity.Error, where, $"cannot read {path}: {e.Message}"));
        }
        return null;
    }
}
