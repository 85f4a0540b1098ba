using System.Text.Json;
using Microsoft.Extensions.Options;
using ReasoningServe.Api.Options;
using ReasoningServe.Api.Proxy;
using ReasoningServe.Api.Resilience;

namespace ReasoningServe.Api.Routing;

/// <summary>
/// The replica groups and the models they serve. Groups come from service-discovery configuration, Aspire's
/// <c>services__&lt;name&gt;__http__&lt;i&gt;</c> (<c>services:&lt;name&gt;:http:&lt;i&gt;</c>); which models a group serves is
/// learned from its replicas' /v1/models, so no model list has to be kept in sync by hand. Re-read every
/// <see cref="RoutingOptions.RefreshInterval"/>, and at once when a request names a model nobody was known to serve.
/// </summary>
internal sealed class ReplicaRegistry(
    IConfiguration configuration, UpstreamClient upstream, ResiliencePipelines pipelines, IOptions<FrontOptions> options,
    ILogger<ReplicaRegistry> logger)
{
    public const string ServicesSection = "services";
    private static readonly string[] EndpointNames = ["http", "https"];

    private readonly SemaphoreSlim _refreshLock = new(1, 1);
    private readonly Dictionary<string, Replica> _replicas = new(StringComparer.Ordinal);
    private volatile Snapshot _snapshot = Snapshot.Empty;
    private long _lastRefreshTicks;

    public Snapshot Current => _snapshot;

    /// <summary>Waits for the first refresh so the very first request already knows the models.</summary>
    public async ValueTask<Snapshot> GetAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _lastRefreshTicks) == 0)
        {
            await RefreshAsync(cancellationToken);
        }
        return _snapshot;
    }

    /// <summary>Refreshes unless another refresh finished in the last second (unknown-model storms must not hammer replicas).</summary>
    public async ValueTask<Snapshot> RefreshIfStaleAsync(CancellationToken cancellationToken)
    {
        if (Environment.TickCount64 - Volatile.Read(ref _lastRefreshTicks) > 1000)
        {
            await RefreshAsync(cancellationToken);
        }
        return _snapshot;
    }

    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        await _refreshLock.WaitAsync(cancellationToken);
        try
        {
            var configured = ReadConfiguredReplicas();
            foreach (var gone in _replicas.Keys.Where(k => !configured.ContainsKey(k)).ToList())
            {
                logger.LogInformation("Replica {Replica} left the configuration", gone);
                _replicas[gone].Removed = true;
                _replicas.Remove(gone);
            }
            foreach (var (key, (group, address)) in configured)
            {
                if (!_replicas.ContainsKey(key))
                {
                    var replica = new Replica(group, address);
                    pipelines.AttachBreaker(replica);
                    _replicas[key] = replica;
                    logger.LogInformation("Replica {Replica} joined group {Group}", replica.Id, group);
                }
            }
            var replicas = _replicas.Values.ToArray();
            await Task.WhenAll(replicas.Select(r => LearnModelsAsync(r, cancellationToken)));
            _snapshot = Snapshot.Build(replicas);
            Volatile.Write(ref _lastRefreshTicks, Math.Max(1, Environment.TickCount64));
        }
        finally
        {
            _refreshLock.Release();
        }
    }

    private Dictionary<string, (string Group, Uri Address)> ReadConfiguredReplicas()
    {
        var found = new Dictionary<string, (string, Uri)>(StringComparer.Ordinal);
        foreach (var service in configuration.GetSection(ServicesSection).GetChildren())
        {
            foreach (var endpointName in EndpointNames)
            {
                var endpoint = service.GetSection(endpointName);
                IEnumerable<string?> urls = endpoint.Value is { } single ? [single] : endpoint.GetChildren().Select(c => c.Value);
                foreach (var url in urls)
                {
                    if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
                    {
                        var baseAddress = new Uri(uri.GetLeftPart(UriPartial.Authority) + "/");
                        found[baseAddress.AbsoluteUri] = (service.Key, baseAddress);
                    }
                    else if (!string.IsNullOrEmpty(url))
                    {
                        logger.LogWarning("Ignoring {Service} endpoint '{Url}': not an http(s) URL", service.Key, url);
                    }
                }
            }
        }
        return found;
    }

    private async Task LearnModelsAsync(Replica replica, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.Routing.ProbeTimeout);
        try
        {
            using var request = upstream.NewRequest(HttpMethod.Get, replica, "v1/models");
            using var response = await upstream.Probes.SendAsync(request, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                return;
            }
            using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(timeout.Token),
                cancellationToken: timeout.Token);
            var models = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var card in document.RootElement.GetProperty("data").EnumerateArray())
            {
                if (card.TryGetProperty("id", out var id) && id.GetString() is { } name)
                {
                    models[name] = card.Clone();
                }
            }
            replica.Models = models;
            replica.ModelsKnown = true;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or JsonException
                                      or KeyNotFoundException or InvalidOperationException)
        {
            // Keep what it said last time: a replica that is down is the breaker's business, not the model list's.
            logger.LogDebug("Replica {Replica} did not list its models: {Reason}", replica.Id, e.Message);
        }
    }

    /// <summary>An immutable view for routing: who serves which model, and the model cards to list.</summary>
    internal sealed class Snapshot
    {
        public static readonly Snapshot Empty = Build([]);

        public required IReadOnlyList<Replica> Replicas { get; init; }
        public required IReadOnlyDictionary<string, Replica[]> ByModel { get; init; }

        /// <summary>Each model once, whatever the replica count, in the order first seen.</summary>
        public required IReadOnlyList<JsonElement> Cards { get; init; }

        public static Snapshot Build(Replica[] replicas)
        {
            var byModel = new Dictionary<string, List<Replica>>(StringComparer.Ordinal);
            var cards = new List<JsonElement>();
            foreach (var replica in replicas)
            {
                foreach (var (model, card) in replica.Models)
                {
                    if (!byModel.TryGetValue(model, out var serving))
                    {
                        byModel[model] = serving = [];
                        cards.Add(card);
                    }
                    serving.Add(replica);
                }
            }
            return new Snapshot
            {
                Replicas = replicas,
                ByModel = byModel.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal),
                Cards = cards,
            };
        }
    }
}

/// <summary>Keeps the registry current while the front runs.</summary>
internal sealed class ReplicaRegistryRefresher(ReplicaRegistry registry, IOptions<FrontOptions> options,
    ILogger<ReplicaRegistryRefresher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Routing.RefreshInterval);
        do
        {
            try
            {
                await registry.RefreshAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Replica refresh failed; keeping the previous view");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
