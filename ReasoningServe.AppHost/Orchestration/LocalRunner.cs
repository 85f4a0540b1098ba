using ReasoningServe.AppHost.Hosting;

namespace ReasoningServe.AppHost.Orchestration;

/// <summary>
/// Runs the app model on this machine: allocates loopback ports, starts each resource once everything it waits for
/// is healthy, prints a summary when all are up, and stops them in reverse order.
/// </summary>
internal sealed class LocalRunner : ILocalEndpoints
{
    private readonly List<ResourceRuntime> _runtimes = [];
    private readonly Dictionary<(Resource, string), int[]> _ports = [];
    private readonly List<Resource> _order;
    private readonly CancellationTokenSource _shuttingDown = new();

    public LocalRunner(IReadOnlyList<Resource> resources, DistributedApplicationExecutionContext executionContext, ConsoleLog log, LocalRunOptions options)
    {
        ExecutionContext = executionContext;
        Log = log;
        Options = options;
        _order = StartOrder(resources);
        foreach (var resource in _order)
        {
            ResourceRuntime? runtime = resource switch
            {
                RedisResource redis => new RedisRuntime(redis, this),
                ProjectResource or ExecutableResource => new ProcessRuntime(resource, this),
                _ => null,
            };
            if (runtime is not null)
            {
                _runtimes.Add(runtime);
            }
        }
    }

    public DistributedApplicationExecutionContext ExecutionContext { get; }

    public ConsoleLog Log { get; }

    public LocalRunOptions Options { get; }

    public IReadOnlyList<ResourceRuntime> Runtimes => _runtimes;

    /// <summary>Cancelled as soon as shutdown begins, before each resource is stopped in turn: nothing is restarted after it.</summary>
    public CancellationToken ShuttingDown => _shuttingDown.Token;

    public void BeginShutdown() => _shuttingDown.Cancel();

    public ResourceRuntime GetRuntime(string name) =>
        _runtimes.Find(r => r.Resource.Name == name) ?? throw new KeyNotFoundException($"No running resource named '{name}'.");

    public int? GetPort(Resource resource, string endpointName, int slot)
    {
        if (_runtimes.Find(r => r.Resource == resource) is RedisRuntime { IsAvailable: false })
        {
            return null;
        }
        return _ports.TryGetValue((resource, endpointName), out var ports) && slot < ports.Length ? ports[slot] : null;
    }

    public int GetAllocatedPort(Resource resource, string endpointName, int slot) => _ports[(resource, endpointName)][slot];

    /// <summary>Starts everything and returns once every resource is healthy (or <paramref name="cancellationToken"/> fires).</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        Prepare();
        var started = new Dictionary<Resource, Task>();
        foreach (var runtime in _runtimes)
        {
            var dependencies = runtime.Resource.WaitsFor.Where(started.ContainsKey).Select(d => started[d]).ToArray();
            started[runtime.Resource] = StartWhenReadyAsync(runtime, dependencies, cancellationToken);
        }
        await Task.WhenAll(started.Values).WaitAsync(cancellationToken);
        Log.Info("all resources are up");
        foreach (var line in SummaryTable())
        {
            Log.Info(line);
        }
    }

    /// <summary>
    /// Allocates ports and resolves every replica's command line: a missing model or an unset parameter stops the
    /// run before any child starts.
    /// </summary>
    public void Prepare()
    {
        if (_ports.Count > 0)
        {
            return;
        }
        AllocatePorts();
        // Masked wherever they appear: alone, inside a connection string, or echoed by a child.
        foreach (var parameter in _order.OfType<ParameterResource>().Where(p => p.Secret))
        {
            try
            {
                Log.AddSecret(parameter.Value);
            }
            catch (AppHostConfigurationException)
            {
                // Unset: an error below if some resource uses it, nothing to mask otherwise.
            }
        }
        foreach (var runtime in _runtimes.OfType<ProcessRuntime>())
        {
            for (var slot = 0; slot < runtime.Resource.MaxReplicas; slot++)
            {
                runtime.BuildSpec(slot);
            }
        }
    }

    public async Task StopAsync()
    {
        BeginShutdown();
        for (var i = _runtimes.Count - 1; i >= 0; i--)
        {
            await _runtimes[i].StopAsync(Options.StopGracePeriod);
        }
    }

    public IEnumerable<string> SummaryTable()
    {
        var rows = new List<string[]> { new[] { "RESOURCE", "TYPE", "STATE", "ENDPOINTS" } };
        foreach (var runtime in _runtimes)
        {
            var endpoints = runtime.DescribeEndpoints().ToList();
            rows.Add([runtime.Resource.Name, runtime.Kind, runtime.State, endpoints.Count == 0 ? "-" : endpoints[0]]);
            rows.AddRange(endpoints.Skip(1).Select(e => new[] { "", "", "", e }));
        }
        var widths = Enumerable.Range(0, 3).Select(c => rows.Max(r => r[c].Length)).ToArray();
        return rows.Select(r => $"{r[0].PadRight(widths[0])}  {r[1].PadRight(widths[1])}  {r[2].PadRight(widths[2])}  {r[3]}");
    }

    private async Task StartWhenReadyAsync(ResourceRuntime runtime, Task[] dependencies, CancellationToken cancellationToken)
    {
        if (dependencies.Length > 0)
        {
            Log.Info($"{runtime.Resource.Name}: waiting for {string.Join(", ", runtime.Resource.WaitsFor.Select(r => r.Name))}");
            await Task.WhenAll(dependencies).WaitAsync(cancellationToken);
        }
        cancellationToken.ThrowIfCancellationRequested();
        Log.Info($"{runtime.Resource.Name}: starting");
        runtime.Start();
        await runtime.WhenHealthy.WaitAsync(cancellationToken);
        Log.Info($"{runtime.Resource.Name}: healthy");
    }

    private void AllocatePorts()
    {
        foreach (var runtime in _runtimes)
        {
            var resource = runtime.Resource;
            foreach (var endpoint in resource.Endpoints)
            {
                var ports = new int[resource.MaxReplicas];
                for (var slot = 0; slot < ports.Length; slot++)
                {
                    // A fixed port (the Api's 8000) belongs to a single instance; replicas get free ports.
                    if (endpoint.Port is int fixedPort && ports.Length == 1)
                    {
                        if (!PortAllocator.IsFree(fixedPort))
                        {
                            throw new AppHostConfigurationException(
                                $"{resource.Name}: port {fixedPort} is already in use on this machine; choose another with --port.");
                        }
                        ports[slot] = fixedPort;
                    }
                    else
                    {
                        ports[slot] = PortAllocator.GetFreePort();
                    }
                }
                _ports[(resource, endpoint.Name)] = ports;
            }
        }
    }

    /// <summary>Dependencies before dependents (WaitFor and references), otherwise in the order the app model added them.</summary>
    private static List<Resource> StartOrder(IReadOnlyList<Resource> resources)
    {
        var order = new List<Resource>();
        var visiting = new HashSet<Resource>();
        void Visit(Resource resource)
        {
            if (order.Contains(resource))
            {
                return;
            }
            if (!visiting.Add(resource))
            {
                throw new AppHostConfigurationException($"{resource.Name} waits for itself through its dependencies.");
            }
            foreach (var dependency in resource.WaitsFor)
            {
                Visit(dependency);
            }
            order.Add(resource);
        }
        foreach (var resource in resources)
        {
            Visit(resource);
        }
        return order;
    }
}
