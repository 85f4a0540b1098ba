using System.Globalization;
using Microsoft.Extensions.Options;
using ReasoningServe.Api.Options;
using ReasoningServe.Api.Telemetry;
using StackExchange.Redis;

namespace ReasoningServe.Api.Routing;

/// <summary>
/// Which replica most likely holds which prompt prefix. Kept in Redis (Aspire's <c>ConnectionStrings:cache</c>) so every
/// front instance routes alike and the index survives a restart; entries expire after
/// <see cref="AffinityOptions.EntryTtl"/>, which bounds Redis memory to (request rate × blocks per prompt × TTL).
/// Redis is an accelerator only: without it, while it is down, or when it answers slower than
/// <see cref="AffinityOptions.RedisTimeout"/>, the in-process <see cref="LocalPrefixIndex"/> answers, and the
/// multiplexer reconnects by itself. No request waits for or fails because of Redis.
/// </summary>
internal sealed class PrefixIndex : IAsyncDisposable
{
    public const string ConnectionName = "cache";

    private readonly AffinityOptions _options;
    private readonly FrontMetrics _metrics;
    private readonly ILogger<PrefixIndex> _logger;
    private readonly Task<IConnectionMultiplexer?> _redis;

    public PrefixIndex(IConfiguration configuration, IOptions<FrontOptions> options, FrontMetrics metrics, ILogger<PrefixIndex> logger)
    {
        _options = options.Value.Affinity;
        _metrics = metrics;
        _logger = logger;
        Local = new LocalPrefixIndex(_options.MaxLocalEntries, _options.EntryTtl, TimeProvider.System);
        var connectionString = configuration.GetConnectionString(ConnectionName);
        _redis = string.IsNullOrWhiteSpace(connectionString) ? Task.FromResult<IConnectionMultiplexer?>(null) : ConnectAsync(connectionString);
    }

    public LocalPrefixIndex Local { get; }

    /// <summary>True while the shared index is reachable (for tests and health).</summary>
    public bool RedisConnected => _redis.IsCompletedSuccessfully && _redis.Result is { IsConnected: true };

    public async ValueTask<(string? Replica, int Blocks)> LookupAsync(ulong[] hashes)
    {
        if (hashes.Length == 0)
        {
            return (null, 0);
        }
        if (Database() is { } db)
        {
            try
            {
                var values = await db.StringGetAsync(Keys(hashes)).WaitAsync(_options.RedisTimeout);
                for (var i = values.Length - 1; i >= 0; i--)
                {
                    if (values[i].HasValue)
                    {
                        return (values[i].ToString(), i + 1);
                    }
                }
                return (null, 0);
            }
            catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
            {
                _logger.LogDebug("Prefix lookup in Redis failed, using the local index: {Reason}", e.Message);
            }
        }
        if (_redis.IsCompleted && _redis.Result is not null)
        {
            _metrics.IndexFallback();
        }
        return Local.Lookup(hashes);
    }

    /// <summary>Records that <paramref name="replica"/> now holds every block of this prefix; never waits for Redis.</summary>
    public void Record(ulong[] hashes, string replica)
    {
        if (hashes.Length == 0)
        {
            return;
        }
        Local.Record(hashes, replica);
        if (Database() is not { } db)
        {
            return;
        }
        try
        {
            var batch = db.CreateBatch();
            var value = (RedisValue)replica;
            foreach (var key in Keys(hashes))
            {
                _ = batch.StringSetAsync(key, value, _options.EntryTtl, flags: CommandFlags.FireAndForget);
            }
            batch.Execute();
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException)
        {
            _logger.LogDebug("Prefix record in Redis failed (kept locally): {Reason}", e.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (await _redis is { } redis)
        {
            await redis.DisposeAsync();
        }
    }

    private IDatabase? Database() =>
        _redis.IsCompletedSuccessfully && _redis.Result is { IsConnected: true } redis ? redis.GetDatabase() : null;

    private RedisKey[] Keys(ulong[] hashes)
    {
        var keys = new RedisKey[hashes.Length];
        for (var i = 0; i < hashes.Length; i++)
        {
            keys[i] = _options.RedisKeyPrefix + hashes[i].ToString("x16", CultureInfo.InvariantCulture);
        }
        return keys;
    }

    private async Task<IConnectionMultiplexer?> ConnectAsync(string connectionString)
    {
        try
        {
            var config = ConfigurationOptions.Parse(connectionString);
            // Start even when Redis is down and keep reconnecting in the background; while disconnected, commands fail
            // at once instead of queueing, so the local index answers without delay.
            config.AbortOnConnectFail = false;
            config.BacklogPolicy = BacklogPolicy.FailFast;
            config.ConnectTimeout = 2000;
            config.ReconnectRetryPolicy = new LinearRetry(500);
            config.ClientName ??= "reasoningserve-api";
            var redis = await ConnectionMultiplexer.ConnectAsync(config);
            redis.ConnectionFailed += (_, e) => _logger.LogWarning("Redis connection lost ({FailureType}); routing with the local prefix index", e.FailureType);
            redis.ConnectionRestored += (_, _) => _logger.LogInformation("Redis connection restored; prefix index shared again");
            return redis;
        }
        catch (Exception e) when (e is RedisException or ArgumentException)
        {
            // Only a malformed connection string gets here; routing carries on with the local index.
            _logger.LogError("Redis connection string is unusable ({Reason}); using the local prefix index only", e.Message);
            return null;
        }
    }
}
