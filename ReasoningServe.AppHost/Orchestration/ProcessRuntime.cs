using System.Globalization;
using ReasoningServe.AppHost.Hosting;
using ReasoningServe.AppHost.LLM;

namespace ReasoningServe.AppHost.Orchestration;

/// <summary>
/// A project or executable run as child processes, one per replica slot. Slots beyond the starting replicas are
/// filled by the autoscaler (LLM deployments with max_replicas above min_replicas).
/// </summary>
internal sealed class ProcessRuntime : ResourceRuntime
{
    private static readonly HttpClient MetricsClient = new() { Timeout = TimeSpan.FromSeconds(5) };

    private readonly LocalRunner _runner;
    private readonly ManagedProcess?[] _slots;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stopping = new();
    private Task _initialReplicasHealthy = Task.CompletedTask;
    private Task _autoscaling = Task.CompletedTask;

    public ProcessRuntime(Resource resource, LocalRunner runner) : base(resource)
    {
        _runner = runner;
        _slots = new ManagedProcess?[resource.MaxReplicas];
    }

    public override string Kind => Resource switch
    {
        LLMResource => "LLM",
        ProjectResource => "Project",
        _ => "Executable",
    };

    public override string State
    {
        get
        {
            var replicas = Replicas;
            if (replicas.Count == 0)
            {
                return "Stopped";
            }
            var running = replicas.Count(r => r.State == ReplicaState.Running);
            return running == replicas.Count ? "Running" : $"{running}/{replicas.Count} running";
        }
    }

    public override Task WhenHealthy => _initialReplicasHealthy;

    public IReadOnlyList<ManagedProcess> Replicas
    {
        get
        {
            lock (_lock)
            {
                return [.. _slots.Where(s => s is not null)!];
            }
        }
    }

    public override IEnumerable<string> DescribeEndpoints()
    {
        foreach (var endpoint in Resource.Endpoints)
        {
            for (var slot = 0; slot < _slots.Length; slot++)
            {
                var url = Resource.GetEndpoint(endpoint.Name).Property(EndpointProperty.Url, slot).GetValue(ValueContextFor(slot));
                var started = _slots[slot] is not null;
                yield return _slots.Length == 1 ? $"{url}" : $"{url} (replica {slot}{(started ? "" : ", not started")})";
            }
        }
    }

    /// <summary>Arguments and environment of a replica, resolved now so that configuration errors stop the run before anything starts.</summary>
    public ProcessSpec BuildSpec(int slot)
    {
        var context = ValueContextFor(slot);
        var args = new List<string>();
        var (fileName, workingDirectory) = Resource switch
        {
            ProjectResource project => ("dotnet", Path.GetDirectoryName(project.Metadata.ProjectPath)!),
            ExecutableResource executable => (executable.Command, executable.WorkingDirectory),
            _ => throw new InvalidOperationException($"{Resource.Name} is not a process."),
        };
        if (Resource is ProjectResource { Metadata.TargetPath: var assembly })
        {
            if (!File.Exists(assembly))
            {
                throw new AppHostConfigurationException($"{Resource.Name}: {assembly} is not built; run `dotnet build` first.");
            }
            args.Add(assembly);
        }
        foreach (var arg in Resource.EvaluateArgs(_runner.ExecutionContext))
        {
            args.Add(arg.GetValue(context) ?? throw new AppHostConfigurationException($"{Resource.Name}: argument {arg.ValueExpression} has no value in this run."));
        }
        var environment = new Dictionary<string, string>();
        foreach (var (name, value) in Resource.EvaluateEnvironment(_runner.ExecutionContext))
        {
            if (value.GetValue(context) is { } resolved)
            {
                environment[name] = resolved;
            }
        }
        return new ProcessSpec(fileName, args, environment, WorkingDirectory: workingDirectory);
    }

    public override void Start()
    {
        var healthy = new List<Task>();
        for (var slot = 0; slot < Resource.Replicas; slot++)
        {
            healthy.Add(StartSlot(slot).WhenHealthy);
        }
        _initialReplicasHealthy = Task.WhenAll(healthy);
        if (Resource.Autoscaling is { } autoscaling && Resource.MaxReplicas > Resource.Replicas)
        {
            _autoscaling = Task.Run(() => AutoscaleAsync(autoscaling, _stopping.Token));
        }
    }

    public override async Task StopAsync(TimeSpan gracePeriod)
    {
        await _stopping.CancelAsync();
        await _autoscaling;
        await Task.WhenAll(Replicas.Select(r => r.StopAsync(gracePeriod)));
        lock (_lock)
        {
            Array.Clear(_slots);
        }
    }

    /// <summary>Starts or stops replicas (highest slots first) until <paramref name="replicas"/> run.</summary>
    public async Task ScaleToAsync(int replicas)
    {
        replicas = Math.Clamp(replicas, 1, _slots.Length);
        for (var slot = 0; slot < replicas; slot++)
        {
            if (_slots[slot] is null)
            {
                StartSlot(slot);
            }
        }
        var stopping = new List<Task>();
        for (var slot = replicas; slot < _slots.Length; slot++)
        {
            ManagedProcess? replica;
            lock (_lock)
            {
                replica = _slots[slot];
                _slots[slot] = null;
            }
            if (replica is not null)
            {
                stopping.Add(replica.StopAsync(_runner.Options.StopGracePeriod));
            }
        }
        await Task.WhenAll(stopping);
    }

    private ManagedProcess StartSlot(int slot)
    {
        var name = _slots.Length == 1 ? Resource.Name : string.Create(CultureInfo.InvariantCulture, $"{Resource.Name}-{slot}");
        var probe = Resource.HealthCheckPath is { } path && Resource.Endpoints.Exists(e => e.Name == "http")
            ? HealthProbes.Http200(new Uri(new Uri(Resource.GetEndpoint("http").Property(EndpointProperty.Url, slot).GetValue(ValueContextFor(slot))!), path))
            : null;
        var replica = new ManagedProcess(name, () => BuildSpec(slot), probe, _runner.Log, _runner.Options.RestartPolicy, _runner.ShuttingDown);
        lock (_lock)
        {
            _slots[slot] = replica;
        }
        replica.Start();
        return replica;
    }

    private async Task AutoscaleAsync(AutoscalingConfig config, CancellationToken stopping)
    {
        var policy = new AutoscalingPolicy(config);
        try
        {
            while (true)
            {
                await Task.Delay(_runner.Options.AutoscaleInterval, stopping);
                var running = RunningSlots();
                if (running.Count == 0)
                {
                    continue;
                }
                var ongoing = 0.0;
                foreach (var slot in running)
                {
                    ongoing += await ScrapeOngoingRequestsAsync(slot, stopping);
                }
                var current = Replicas.Count;
                var desired = policy.Decide(DateTimeOffset.UtcNow, current, ongoing);
                if (desired != current)
                {
                    _runner.Log.Info($"scaling {Resource.Name} from {current} to {desired} replicas "
                        + $"({ongoing:0.#} ongoing requests, target {config.TargetOngoingRequests:0.#} per replica)");
                    await ScaleToAsync(desired);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private List<int> RunningSlots()
    {
        var running = new List<int>();
        lock (_lock)
        {
            for (var slot = 0; slot < _slots.Length; slot++)
            {
                if (_slots[slot] is { State: ReplicaState.Running })
                {
                    running.Add(slot);
                }
            }
        }
        return running;
    }

    /// <summary>vLLM's gauges of running and waiting requests, from the replica's /metrics; 0 when it does not answer.</summary>
    private async Task<double> ScrapeOngoingRequestsAsync(int slot, CancellationToken cancellationToken)
    {
        var url = Resource.GetEndpoint("http").Property(EndpointProperty.Url, slot).GetValue(ValueContextFor(slot));
        try
        {
            var text = await MetricsClient.GetStringAsync(new Uri(new Uri(url!), "/metrics"), cancellationToken);
            return PrometheusText.Sum(text, PrometheusText.OngoingRequestMetrics);
        }
        catch (HttpRequestException)
        {
            return 0;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return 0;
        }
    }

    private ValueContext ValueContextFor(int slot) => new(_runner, Resource, slot);
}
