namespace ReasoningServe.AppHost.Orchestration;

internal enum RedisMode
{
    /// <summary>redis-server if on the PATH, else a container if Docker answers, else none.</summary>
    Auto,
    Executable,
    Container,
    None,
}

/// <summary>Knobs of the local orchestrator (configuration section <c>AppHost</c>, e.g. <c>--AppHost:Redis none</c>).</summary>
internal sealed record LocalRunOptions
{
    public TimeSpan StopGracePeriod { get; init; } = TimeSpan.FromSeconds(10);

    public RestartPolicy RestartPolicy { get; init; } = RestartPolicy.Default;

    public TimeSpan AutoscaleInterval { get; init; } = TimeSpan.FromSeconds(2);

    public RedisMode Redis { get; init; } = RedisMode.Auto;
}
