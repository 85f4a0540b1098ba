using System.Diagnostics;
using ReasoningServe.AppHost.Hosting;

namespace ReasoningServe.AppHost.Orchestration;

/// <summary>
/// Redis for a local run, from the first source that works: a <c>redis-server</c> on the PATH, a container when a
/// Docker engine answers, or none — the stand-in: a warning, no <c>ConnectionStrings__cache</c>, and the Api and
/// Inference fall back to their in-process caches (Redis accelerates, it is never needed for correctness).
/// </summary>
internal sealed class RedisRuntime : ResourceRuntime
{
    private readonly LocalRunner _runner;
    private readonly RedisResource _redis;
    private ManagedProcess? _process;

    public RedisRuntime(RedisResource redis, LocalRunner runner) : base(redis)
    {
        _redis = redis;
        _runner = runner;
    }

    /// <summary>How Redis is provided in this run: "redis-server", "container" or "none".</summary>
    public string Source { get; private set; } = "none";

    public bool IsAvailable => _process is not null;

    public int Port => _runner.GetAllocatedPort(_redis, RedisResource.PrimaryEndpointName, 0);

    public int? ProcessId => _process?.ProcessId;

    public override string Kind => $"Redis ({Source})";

    public override string State => _process is null ? "Not available" : _process.State == ReplicaState.Running ? "Running" : _process.State.ToString();

    public override Task WhenHealthy => _process?.WhenHealthy ?? Task.CompletedTask;

    public override IEnumerable<string> DescribeEndpoints()
    {
        if (_process is not null)
        {
            yield return $"tcp://{EndpointReferenceExpression.LoopbackHost}:{Port}";
        }
    }

    public override void Start()
    {
        var password = _redis.PasswordParameter.Value;
        _runner.Log.AddSecret(password);
        var mode = _runner.Options.Redis;
        ProcessSpec? spec = null;
        if (mode is RedisMode.Auto or RedisMode.Executable && FindOnPath("redis-server") is { } redisServer)
        {
            Source = "redis-server";
            // `redis-server -` reads its configuration from standard input: the password never appears in `ps`.
            var config = $"bind 127.0.0.1\nport {Port}\nrequirepass \"{password}\"\nsave \"\"\nappendonly no\n";
            spec = new ProcessSpec(redisServer, ["-"], new Dictionary<string, string>(), StandardInput: config);
        }
        else if (mode is RedisMode.Auto or RedisMode.Container && DockerAnswers())
        {
            Source = "container";
            spec = new ProcessSpec("docker",
                ["run", "--rm", "--name", $"reasoningserve-{_redis.Name}-{Port}", "-p", $"127.0.0.1:{Port}:{RedisResource.ContainerPort}",
                 "-e", "REDIS_PASSWORD", "--entrypoint", "/bin/sh", $"{RedisResource.Image}:{RedisResource.Tag}",
                 "-c", "redis-server --requirepass \"$REDIS_PASSWORD\" --save '' --appendonly no"],
                new Dictionary<string, string> { ["REDIS_PASSWORD"] = password });
        }
        if (spec is null)
        {
            _runner.Log.Warn($"{_redis.Name}: no redis-server on the PATH and no Docker engine answering; running without Redis "
                + "(ConnectionStrings__" + _redis.Name + " is not set: caches stay in-process). Install it with tools/setup.sh.");
            return;
        }
        _process = new ManagedProcess(_redis.Name, () => spec, HealthProbes.RedisPing(Port, password), _runner.Log, _runner.Options.RestartPolicy, _runner.ShuttingDown);
        _process.Start();
    }

    public override Task StopAsync(TimeSpan gracePeriod) => _process?.StopAsync(gracePeriod) ?? Task.CompletedTask;

    internal static string? FindOnPath(string executable)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, executable);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    private static bool DockerAnswers()
    {
        if (FindOnPath("docker") is null)
        {
            return false;
        }
        try
        {
            using var docker = Process.Start(new ProcessStartInfo("docker", ["info", "--format", "{{.ServerVersion}}"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            if (!docker.WaitForExit(TimeSpan.FromSeconds(15)))
            {
                docker.Kill(entireProcessTree: true);
                return false;
            }
            return docker.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
