using System.Diagnostics;
using ReasoningServe.AppHost.Orchestration;

namespace ReasoningServe.Tests.AppHost;

/// <summary>Supervision of real child processes (sh, sleep): restarts, backoff, SIGTERM then kill, no orphans.</summary>
public sealed class ManagedProcessTests
{
    private static readonly RestartPolicy FastRestarts = new(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(400), TimeSpan.FromMinutes(1));

    private static ManagedProcess Shell(string name, string script, CapturedLog log, RestartPolicy? policy = null) =>
        new(name, () => new ProcessSpec("sh", ["-c", script], new Dictionary<string, string>()), null, log.Log, policy ?? FastRestarts);

    [Fact]
    public async Task Crashing_process_is_restarted_with_doubling_backoff_up_to_the_cap()
    {
        var log = new CapturedLog();
        var process = Shell("crasher", "echo attempt; exit 3", log);

        process.Start();
        await AppHostTestSupport.WaitUntilAsync(() => process.Restarts >= 5, "five restarts");
        await process.StopAsync(TimeSpan.FromSeconds(5));

        var delays = log.Lines.Where(l => l.Contains("restarting in")).Select(l => l[(l.LastIndexOf(' ') + 1)..]).Take(5).ToArray();
        Assert.Equal(["0.05s", "0.1s", "0.2s", "0.4s", "0.4s"], delays);
        Assert.Contains(log.Lines, l => l.StartsWith("crasher", StringComparison.Ordinal) && l.EndsWith("| attempt", StringComparison.Ordinal));
        Assert.Contains(log.Lines, l => l.Contains("exited with code 3"));
    }

    [Fact]
    public async Task Killed_replica_is_started_again()
    {
        var log = new CapturedLog();
        var process = Shell("replica-0", "exec sleep 600", log);
        process.Start();
        await process.WhenHealthy;
        var first = process.ProcessId!.Value;

        Process.GetProcessById(first).Kill();
        await AppHostTestSupport.WaitUntilAsync(() => process.ProcessId is int pid && pid != first, "a new process");
        var second = process.ProcessId!.Value;
        await process.StopAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(1, process.Restarts);
        Assert.False(ProcessTree.IsAlive(first));
        Assert.False(ProcessTree.IsAlive(second));
    }

    [Fact]
    public async Task Stop_sends_SIGTERM_which_a_well_behaved_child_handles()
    {
        var log = new CapturedLog();
        var process = Shell("graceful", "trap 'echo got SIGTERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done", log);
        process.Start();
        await AppHostTestSupport.WaitUntilAsync(() => log.Text.Contains("ready"), "the child to start");
        var pid = process.ProcessId!.Value;

        await process.StopAsync(TimeSpan.FromSeconds(30));

        Assert.Contains("got SIGTERM", log.Text);
        Assert.DoesNotContain("killing it", log.Text);
        Assert.False(ProcessTree.IsAlive(pid));
        Assert.Equal(ReplicaState.Stopped, process.State);
        Assert.Equal(0, process.Restarts);
    }

    [Fact]
    public async Task Child_ignoring_SIGTERM_is_killed_after_the_grace_period_with_its_own_children()
    {
        var log = new CapturedLog();
        var process = Shell("stubborn", "trap '' TERM; sleep 600 & echo child $!; wait", log);
        process.Start();
        await AppHostTestSupport.WaitUntilAsync(() => log.Text.Contains("child "), "the grandchild to start");
        var shell = process.ProcessId!.Value;
        var line = log.Lines.First(l => l.Contains("| child "));
        var grandchild = int.Parse(line[(line.LastIndexOf(' ') + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture);

        await process.StopAsync(TimeSpan.FromMilliseconds(300));

        Assert.Contains("killing it", log.Text);
        Assert.False(ProcessTree.IsAlive(shell));
        Assert.False(ProcessTree.IsAlive(grandchild));
    }

    [Fact]
    public async Task Children_left_behind_by_an_exiting_child_are_not_orphaned()
    {
        var log = new CapturedLog();
        // The shell exits on SIGTERM at once; its background sleep would be re-parented and live on.
        var process = Shell("leaky", "sleep 600 & echo child $!; trap 'exit 0' TERM; while true; do sleep 0.1; done", log);
        process.Start();
        await AppHostTestSupport.WaitUntilAsync(() => log.Text.Contains("child "), "the grandchild to start");
        var line = log.Lines.First(l => l.Contains("| child "));
        var grandchild = int.Parse(line[(line.LastIndexOf(' ') + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture);

        await process.StopAsync(TimeSpan.FromSeconds(30));

        await AppHostTestSupport.WaitUntilAsync(() => !ProcessTree.IsAlive(grandchild), "the grandchild to be gone", seconds: 10);
    }

    [Fact]
    public async Task Secret_values_are_masked_in_everything_a_child_prints()
    {
        var log = new CapturedLog();
        log.Log.AddSecret("s3cr3t-value");
        var process = new ManagedProcess("leaker", () => new ProcessSpec("sh", ["-c", "echo password=$PASSWORD; exec sleep 600"],
            new Dictionary<string, string> { ["PASSWORD"] = "s3cr3t-value" }), null, log.Log, FastRestarts);

        process.Start();
        await AppHostTestSupport.WaitUntilAsync(() => log.Text.Contains("password="), "the child's output");
        await process.StopAsync(TimeSpan.FromSeconds(5));

        Assert.DoesNotContain("s3cr3t-value", log.Text);
        Assert.Contains("password=***", log.Text);
    }
}
