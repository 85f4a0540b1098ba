namespace ReasoningServe.AppHost.Orchestration;

/// <summary>How to start one child process. <see cref="StandardInput"/> is written then closed (redis-server reads its config there, keeping the password off the command line).</summary>
internal sealed record ProcessSpec(
    string FileName,
    IReadOnlyList<string> Arguments,
    IReadOnlyDictionary<string, string> Environment,
    string? StandardInput = null,
    string? WorkingDirectory = null);

/// <summary>Crash handling: exponential backoff from <see cref="InitialBackoff"/> to <see cref="MaxBackoff"/>, reset once a run stayed healthy for <see cref="ResetAfter"/>.</summary>
internal sealed record RestartPolicy(TimeSpan InitialBackoff, TimeSpan MaxBackoff, TimeSpan ResetAfter)
{
    public static RestartPolicy Default { get; } = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));
}

internal enum ReplicaState
{
    Starting,
    Running,
    Restarting,
    Stopping,
    Stopped,
}
