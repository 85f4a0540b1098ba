using System.ComponentModel;
using System.Diagnostics;

namespace ReasoningServe.AppHost.Orchestration;

/// <summary>
/// One supervised child process (a replica): started, probed until healthy, restarted with exponential backoff
/// when it exits on its own, and on stop sent SIGTERM, then killed with everything it started after a grace period.
/// Its output goes to the shared console, one prefixed line at a time.
/// </summary>
internal sealed class ManagedProcess
{
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ExitPollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>How long an exited child's last output may take to arrive before its exit is reported anyway.</summary>
    private static readonly TimeSpan OutputDrainTimeout = TimeSpan.FromMilliseconds(500);

    private readonly Func<ProcessSpec> _spec;
    private readonly Func<CancellationToken, Task<bool>>? _healthProbe;
    private readonly ConsoleLog _log;
    private readonly RestartPolicy _restartPolicy;
    private readonly CancellationTokenSource _stopping;
    private int _stopCalled;
    private readonly TaskCompletionSource _firstHealthy = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Process? _process;
    private Task? _supervision;

    /// <param name="spec">Evaluated at every (re)start.</param>
    /// <param name="healthProbe">Null: healthy as soon as started.</param>
    /// <param name="shuttingDown">
    /// The whole app is stopping: a Ctrl+C in a terminal reaches every child of the process group at once, so a child may
    /// exit before its own <see cref="StopAsync"/> is called; it must not be restarted then.
    /// </param>
    public ManagedProcess(string name, Func<ProcessSpec> spec, Func<CancellationToken, Task<bool>>? healthProbe, ConsoleLog log, RestartPolicy restartPolicy,
        CancellationToken shuttingDown = default)
    {
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(shuttingDown);
        Name = name;
        _spec = spec;
        _healthProbe = healthProbe;
        _log = log;
        _restartPolicy = restartPolicy;
    }

    public string Name { get; }

    public ReplicaState State { get; private set; } = ReplicaState.Starting;

    /// <summary>How many times the process was started again after exiting on its own.</summary>
    public int Restarts { get; private set; }

    public int? ProcessId => _process is { } p && !HasExited(p) ? p.Id : null;

    /// <summary>Completes the first time the process is healthy.</summary>
    public Task WhenHealthy => _firstHealthy.Task;

    public void Start() => _supervision ??= Task.Run(SuperviseAsync);

    public async Task StopAsync(TimeSpan gracePeriod)
    {
        if (Interlocked.Exchange(ref _stopCalled, 1) == 1)
        {
            await (_supervision ?? Task.CompletedTask);
            return;
        }
        State = ReplicaState.Stopping;
        await _stopping.CancelAsync();
        if (_process is { } process && !HasExited(process))
        {
            var descendants = ProcessTree.Descendants(process.Id);
            if (!Signals.TryTerminate(process.Id))
            {
                process.Kill(entireProcessTree: true);
            }
            using var grace = new CancellationTokenSource(gracePeriod);
            try
            {
                await WaitForExitAsync(process, grace.Token);
            }
            catch (OperationCanceledException)
            {
                _log.Write(Name, $"did not exit within {gracePeriod.TotalSeconds:0.#}s of SIGTERM; killing it");
                process.Kill(entireProcessTree: true);
                await WaitForExitAsync(process, CancellationToken.None);
            }
            KillLeftovers(descendants);
        }
        await (_supervision ?? Task.CompletedTask);
        State = ReplicaState.Stopped;
    }

    private async Task SuperviseAsync()
    {
        var backoff = _restartPolicy.InitialBackoff;
        while (!_stopping.IsCancellationRequested)
        {
            State = ReplicaState.Starting;
            var process = TryStart();
            DateTimeOffset? healthySince = null;
            if (process is not null)
            {
                using var exited = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                var probing = ProbeUntilHealthyAsync(exited.Token, () => healthySince = DateTimeOffset.UtcNow);
                await WaitForExitAsync(process, CancellationToken.None);
                await exited.CancelAsync();
                await probing;
                _log.Write(Name, $"exited with code {process.ExitCode}");
                if (_stopping.IsCancellationRequested)
                {
                    break;
                }
            }
            if (healthySince is { } since && DateTimeOffset.UtcNow - since >= _restartPolicy.ResetAfter)
            {
                backoff = _restartPolicy.InitialBackoff;
            }
            State = ReplicaState.Restarting;
            _log.Write(Name, $"restarting in {backoff.TotalSeconds:0.###}s");
            try
            {
                await Task.Delay(backoff, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _restartPolicy.MaxBackoff.Ticks));
            Restarts++;
        }
    }

    private Process? TryStart()
    {
        var spec = _spec();
        var info = new ProcessStartInfo(spec.FileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = spec.StandardInput is not null,
            UseShellExecute = false,
            WorkingDirectory = spec.WorkingDirectory ?? Directory.GetCurrentDirectory(),
        };
        foreach (var argument in spec.Arguments)
        {
            info.ArgumentList.Add(argument);
        }
        foreach (var (key, value) in spec.Environment)
        {
            info.Environment[key] = value;
        }
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => WriteLine(e.Data);
        process.ErrorDataReceived += (_, e) => WriteLine(e.Data);
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            _log.Write(Name, $"could not start {spec.FileName}: {e.Message}");
            process.Dispose();
            return null;
        }
        _process = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (spec.StandardInput is { } input)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }
        return process;
    }

    private async Task ProbeUntilHealthyAsync(CancellationToken exited, Action onHealthy)
    {
        try
        {
            while (_healthProbe is not null && !await _healthProbe(exited))
            {
                await Task.Delay(ProbeInterval, exited);
            }
        }
        catch (OperationCanceledException)
        {
            return;
        }
        if (exited.IsCancellationRequested)
        {
            return;
        }
        State = ReplicaState.Running;
        onHealthy();
        _firstHealthy.TrySetResult();
    }

    private void WriteLine(string? line)
    {
        if (line is not null)
        {
            _log.Write(Name, line);
        }
    }

    /// <summary>
    /// Until the child has exited, then at most <see cref="OutputDrainTimeout"/> more for the rest of its output, so that
    /// its last lines (a "shutting down" on SIGTERM) are logged before its exit. Process.WaitForExitAsync alone waits for
    /// the end of redirected output, which never comes while a grandchild holds the pipe open; the exit itself is what
    /// supervision needs.
    /// </summary>
    private static async Task WaitForExitAsync(Process process, CancellationToken cancellationToken)
    {
        while (!HasExited(process))
        {
            await Task.Delay(ExitPollInterval, cancellationToken);
        }
        using var drain = new CancellationTokenSource(OutputDrainTimeout);
        try
        {
            await process.WaitForExitAsync(drain.Token);
        }
        catch (OperationCanceledException)
        {
            // a grandchild still holds the pipe: its output goes on arriving after the exit
        }
        catch (InvalidOperationException)
        {
            // the process object was disposed meanwhile: nothing more to read
        }
    }

    private static bool HasExited(Process process)
    {
        try
        {
            return process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    private static void KillLeftovers(List<int> descendants)
    {
        foreach (var pid in descendants)
        {
            try
            {
                using var leftover = Process.GetProcessById(pid);
                leftover.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or Win32Exception)
            {
                // Already gone: the child took its own children down, as it should.
            }
        }
    }
}
