using ReasoningServe.AppHost.Hosting;
using ReasoningServe.AppHost.LLM;
using ReasoningServe.AppHost.Orchestration;

namespace ReasoningServe.Tests.AppHost;

/// <summary>The orchestrator against real processes: redis-server, sh, and python's http.server as an HTTP service with /health and /metrics.</summary>
public sealed class LocalRunnerTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "rs-runner-" + Guid.NewGuid().ToString("N"));
    private readonly CapturedLog _log = new();

    public LocalRunnerTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private DistributedApplicationBuilder CreateBuilder(params string[] args)
    {
        var builder = DistributedApplication.CreateBuilder(args);
        builder.Log = _log.Log;
        builder.RunOptions = builder.RunOptions with
        {
            StopGracePeriod = TimeSpan.FromSeconds(5),
            RestartPolicy = new RestartPolicy(TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1)),
            AutoscaleInterval = TimeSpan.FromMilliseconds(200),
        };
        return builder;
    }

    /// <summary>A process that prints its environment, then waits to be stopped.</summary>
    private static IResourceBuilder<ExecutableResource> AddEnvPrinter(DistributedApplicationBuilder builder, string name) =>
        builder.AddExecutable(name, "sh", Path.GetTempPath(), "-c", "env | sort | sed 's/^/env: /'; exec sleep 600");

    /// <summary>python's http.server over a folder: /health and /metrics are files the test writes.</summary>
    private IResourceBuilder<ExecutableResource> AddFileServer(DistributedApplicationBuilder builder, string name, string folder)
    {
        var resource = builder.AddExecutable(name, "python3", folder, "-m", "http.server", "--bind", "127.0.0.1")
            .WithHttpEndpoint()
            .WithHttpHealthCheck("/health");
        return resource.WithArgs(context => context.Args.Add(resource.Resource.GetEndpoint("http").Property(EndpointProperty.TargetPort)));
    }

    private static void SkipUnlessPython() =>
        Skip.If(RedisRuntime.FindOnPath("python3") is null, "python3 is not installed: it serves the HTTP endpoints these tests probe");

    private static void SkipUnlessRedisServer() =>
        Skip.If(RedisRuntime.FindOnPath("redis-server") is null, "redis-server is not installed; tools/setup.sh installs it");

    [SkippableFact]
    public async Task Redis_runs_on_a_free_loopback_port_answers_PING_with_its_password_and_is_gone_after_stop()
    {
        SkipUnlessRedisServer();
        var builder = CreateBuilder("--Parameters:cache-password", "testPassword123");
        var cache = builder.AddRedis("cache");
        AddEnvPrinter(builder, "client").WithReference(cache).WaitFor(cache);
        var app = builder.Build();

        await app.StartAsync();
        var redis = (RedisRuntime)app.Runner.GetRuntime("cache");
        var port = redis.Port;
        var pid = redis.ProcessId!.Value;
        var pingWithPassword = await HealthProbes.RedisPingAsync(port, "testPassword123", CancellationToken.None);
        var pingWithWrongPassword = await HealthProbes.RedisPingAsync(port, "wrong", CancellationToken.None);
        await AppHostTestSupport.WaitUntilAsync(() => _log.Text.Contains("env: ConnectionStrings__cache="), "the client's environment");
        await app.StopAsync();

        Assert.Equal("redis-server", redis.Source);
        Assert.True(pingWithPassword);
        Assert.False(pingWithWrongPassword);
        Assert.True(_log.Text.Contains($"env: ConnectionStrings__cache=127.0.0.1:{port},password=***", StringComparison.Ordinal), _log.Text);
        Assert.DoesNotContain("testPassword123", _log.Text);
        Assert.False(ProcessTree.IsAlive(pid));
        Assert.True(PortAllocator.IsFree(port));
    }

    [Fact]
    public async Task Without_Redis_the_stand_in_warns_and_leaves_the_connection_string_unset()
    {
        var builder = CreateBuilder("--AppHost:Redis", "none");
        var cache = builder.AddRedis("cache");
        AddEnvPrinter(builder, "client").WithReference(cache).WaitFor(cache);
        var app = builder.Build();

        await app.StartAsync();
        await AppHostTestSupport.WaitUntilAsync(() => _log.Text.Contains("env: PATH="), "the client's environment");
        await app.StopAsync();

        Assert.Contains("warning: cache: no redis-server", _log.Text);
        Assert.DoesNotContain("env: ConnectionStrings__cache", _log.Text);
    }

    [SkippableFact]
    public async Task Dependents_start_after_their_dependency_is_healthy_and_get_Aspire_environment()
    {
        SkipUnlessPython();
        var site = Directory.CreateDirectory(Path.Combine(_directory, "site")).FullName;
        var builder = CreateBuilder();
        var service = AddFileServer(builder, "inference", site).WithReplicas(2);
        var client = AddEnvPrinter(builder, "api").WithReference(service).WaitFor(service);
        var app = builder.Build();

        var starting = app.StartAsync();
        await AppHostTestSupport.WaitUntilAsync(() => _log.Text.Contains("inference: starting"), "the service to start");
        // Not healthy until /health exists: the dependent must still be waiting.
        await Task.Delay(500);
        var startedBeforeHealthy = _log.Text.Contains("api: starting");
        File.WriteAllText(Path.Combine(site, "health"), "ok");
        await starting;
        await AppHostTestSupport.WaitUntilAsync(() => _log.Text.Contains("env: services__inference__http__1="), "the client's environment");
        var runtime = (ProcessRuntime)app.Runner.GetRuntime("inference");
        var urls = runtime.DescribeEndpoints().ToArray();
        var summary = _log.Text;
        await app.StopAsync();

        Assert.False(startedBeforeHealthy);
        Assert.Contains($"env: services__inference__http__0={urls[0].Split(' ')[0]}", summary);
        Assert.Contains($"env: services__inference__http__1={urls[1].Split(' ')[0]}", summary);
        // The summary table lists every resource with its state once all are up.
        var table = summary[summary.IndexOf("all resources are up", StringComparison.Ordinal)..];
        Assert.Contains("RESOURCE", table);
        Assert.Matches(@"inference\s+Executable\s+Running\s+http://127\.0\.0\.1:\d+ \(replica 0\)", table);
        Assert.Matches(@"api\s+Executable\s+Running", table);
    }

    [Fact]
    public void Projects_get_Aspire_environment_for_each_replica()
    {
        var builder = CreateBuilder("--OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");
        var cache = builder.AddRedis("cache");
        var service = builder.AddProject<Projects.ReasoningServe_Inference>("inference").WithHttpEndpoint().WithReplicas(2);
        builder.AddProject<Projects.ReasoningServe_Api>("api").WithHttpEndpoint(port: PortAllocator.GetFreePort(), isExternal: true)
            .WithReference(service).WithReference(cache);
        var runner = new LocalRunner(builder.Resources, builder.ExecutionContext, _log.Log, builder.RunOptions);

        runner.Prepare();
        var replica1 = ((ProcessRuntime)runner.GetRuntime("inference")).BuildSpec(1);
        var api = ((ProcessRuntime)runner.GetRuntime("api")).BuildSpec(0);

        var inferencePorts = new[] { 0, 1 }.Select(slot => runner.GetPort(service.Resource, "http", slot)).ToArray();
        Assert.Equal($"http://127.0.0.1:{inferencePorts[1]}", replica1.Environment["ASPNETCORE_URLS"]);
        Assert.Equal("service.instance.id=inference-1", replica1.Environment["OTEL_RESOURCE_ATTRIBUTES"]);
        Assert.Equal("inference", replica1.Environment["OTEL_SERVICE_NAME"]);
        Assert.Equal("simple", replica1.Environment["LOGGING__CONSOLE__FORMATTERNAME"]);
        Assert.Equal("http://127.0.0.1:4317", replica1.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        Assert.Equal("true", replica1.Environment["OTEL_DOTNET_EXPERIMENTAL_OTLP_EMIT_EXCEPTION_LOG_ATTRIBUTES"]);
        Assert.Equal("true", replica1.Environment["OTEL_DOTNET_EXPERIMENTAL_OTLP_EMIT_EVENT_LOG_ATTRIBUTES"]);
        Assert.Equal("in_memory", replica1.Environment["OTEL_DOTNET_EXPERIMENTAL_OTLP_RETRY"]);
        Assert.Equal("dotnet", replica1.FileName);
        Assert.Equal(new Projects.ReasoningServe_Inference().TargetPath, replica1.Arguments[0]);
        Assert.Equal($"http://127.0.0.1:{inferencePorts[0]}", api.Environment["services__inference__http__0"]);
        Assert.Equal($"http://127.0.0.1:{inferencePorts[1]}", api.Environment["services__inference__http__1"]);
        // Redis has not been started in this run, so there is no connection string to give.
        Assert.False(api.Environment.ContainsKey("ConnectionStrings__cache"));
    }

    [Fact]
    public void Projects_do_not_get_an_OTLP_endpoint_unless_one_is_configured()
    {
        var builder = CreateBuilder();
        builder.AddProject<Projects.ReasoningServe_Api>("api").WithHttpEndpoint();
        var runner = new LocalRunner(builder.Resources, builder.ExecutionContext, _log.Log, builder.RunOptions);

        runner.Prepare();
        var api = ((ProcessRuntime)runner.GetRuntime("api")).BuildSpec(0);

        Assert.False(api.Environment.ContainsKey("OTEL_EXPORTER_OTLP_ENDPOINT"));
        Assert.Equal("api", api.Environment["OTEL_SERVICE_NAME"]);
    }

    [SkippableFact]
    public async Task Autoscaler_adds_a_replica_when_ongoing_requests_exceed_the_target_and_removes_it_when_idle()
    {
        SkipUnlessPython();
        var site = Directory.CreateDirectory(Path.Combine(_directory, "metrics-site")).FullName;
        File.WriteAllText(Path.Combine(site, "health"), "ok");
        File.WriteAllText(Path.Combine(site, "metrics"), "vllm:num_requests_running{model_name=\"m\"} 3\nvllm:num_requests_waiting{model_name=\"m\"} 2\n");
        var builder = CreateBuilder();
        AddFileServer(builder, "inference", site).WithAutoscaling(new AutoscalingConfig
        {
            MinReplicas = 1,
            MaxReplicas = 2,
            TargetOngoingRequests = 4,
            UpscaleDelay = TimeSpan.Zero,
            DownscaleDelay = TimeSpan.Zero,
        });
        var app = builder.Build();
        await app.StartAsync();
        var runtime = (ProcessRuntime)app.Runner.GetRuntime("inference");
        var startedWith = runtime.Replicas.Count;

        // 5 ongoing requests on one replica, target 4 per replica: a second replica is wanted.
        await AppHostTestSupport.WaitUntilAsync(() => runtime.Replicas.Count == 2 && runtime.Replicas.All(r => r.State == ReplicaState.Running), "scale up");
        File.WriteAllText(Path.Combine(site, "metrics"), "vllm:num_requests_running{model_name=\"m\"} 0\nvllm:num_requests_waiting{model_name=\"m\"} 0\n");
        await AppHostTestSupport.WaitUntilAsync(() => runtime.Replicas.Count == 1, "scale down");
        await app.StopAsync();

        Assert.Equal(1, startedWith);
        Assert.Contains("scaling inference from 1 to 2 replicas", _log.Text);
        Assert.Contains("scaling inference from 2 to 1 replicas", _log.Text);
    }

    [Fact]
    public async Task A_missing_model_folder_stops_the_run_before_anything_starts()
    {
        var builder = CreateBuilder();
        builder.AddLLM(new LLMConfig { ModelId = "m", ModelSource = "./no-such-model-folder" });
        var app = builder.Build();

        var error = await Assert.ThrowsAsync<AppHostConfigurationException>(() => app.StartAsync());

        Assert.Contains("./no-such-model-folder", error.Message);
        Assert.DoesNotContain("starting", _log.Text);
    }

    [Fact]
    public void AppHost_exits_non_zero_saying_why_when_its_model_folder_is_missing()
    {
        var config = AppHostTestSupport.WriteTempFile(_directory, "missing.yaml", """
            applications:
            - import_path: ray.serve.llm:build_openai_app
              args:
                llm_configs:
                - model_loading_config: {model_id: m, model_source: ./no-such-model-folder}
            """);

        var (exitCode, output) = AppHostTestSupport.RunAppHost(AppHostTestSupport.RepositoryRoot, "--AppHost:Redis", "none", "--config", config);

        Assert.NotEqual(0, exitCode);
        Assert.Contains("model_source './no-such-model-folder' is not an existing folder", output);
    }
}
