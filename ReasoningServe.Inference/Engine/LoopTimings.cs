using System.Diagnostics;
using System.Globalization;

namespace ReasoningServe.Inference.Engine;

/// <summary>
/// Where the engine loop's time goes, step by step (RS_ENGINE_LOOP_TIMING=steps): scheduling and building the batch, the
/// backend's forward pass in two parts (launch: its host work until the device has the step, such as packing the inputs
/// and launching a CUDA graph; wait: from then until the results are back; a backend that does not say when it launched
/// counts all of it as wait), turning sampled tokens into outputs, delivering them to the request streams, and the loop's
/// own work between steps. Every <paramref name="window"/> steps it writes each phase's median and 90th percentile in
/// microseconds. The host time of a decode step is everything but the wait; a server's time per output token above the
/// device's step time is spent there.
/// </summary>
internal sealed class LoopTimings(TextWriter output, int window)
{
    public enum Phase
    {
        Schedule,
        Launch,
        Wait,
        Outputs,
        Deliver,
        Between,
    }

    private static readonly string[] Names = ["schedule", "launch", "wait", "outputs", "deliver", "between steps"];
    private readonly double[][] _microseconds = [.. Names.Select(_ => new double[window])];
    private int _steps;

    /// <summary>The phase that ran from <paramref name="start"/> (a <see cref="Stopwatch"/> timestamp) until now; returns now.</summary>
    public long Record(Phase phase, long start) => Record(phase, start, Stopwatch.GetTimestamp());

    /// <summary>The phase that ran from <paramref name="start"/> to <paramref name="end"/>; returns <paramref name="end"/>.</summary>
    public long Record(Phase phase, long start, long end)
    {
        _microseconds[(int)phase][_steps] = Stopwatch.GetElapsedTime(start, end).TotalMicroseconds;
        return end;
    }

    /// <summary>
    /// The loop's own time before this step: from <paramref name="previousStepDone"/> (the last step's delivery done) to
    /// <paramref name="stepDone"/> (this one's) less this step's recorded phases.
    /// </summary>
    public void RecordBetween(long previousStepDone, long stepDone)
    {
        double phases = 0;
        for (int p = 0; p < (int)Phase.Between; p++)
        {
            phases += _microseconds[p][_steps];
        }
        _microseconds[(int)Phase.Between][_steps] = Stopwatch.GetElapsedTime(previousStepDone, stepDone).TotalMicroseconds - phases;
    }

    /// <summary>Closes a step's record; every window of steps, writes the window's percentiles.</summary>
    public void EndStep()
    {
        if (++_steps < window)
        {
            return;
        }
        var line = new System.Text.StringBuilder($"engine loop, last {window} steps (us, median / p90):");
        for (int p = 0; p < Names.Length; p++)
        {
            Array.Sort(_microseconds[p]);
            line.Append(CultureInfo.InvariantCulture, $" {Names[p]} {_microseconds[p][window / 2]:F1} / {_microseconds[p][window * 9 / 10]:F1};");
        }
        output.WriteLine(line.ToString());
        _steps = 0;
    }

    /// <summary>A recorder reporting every RS_ENGINE_LOOP_TIMING steps (at least 2) when that is set, else null.</summary>
    public static LoopTimings? FromEnvironment() =>
        int.TryParse(Environment.GetEnvironmentVariable("RS_ENGINE_LOOP_TIMING"), NumberStyles.None, CultureInfo.InvariantCulture, out int steps) && steps >= 2
            ? new LoopTimings(Console.Error, steps)
            : null;
}
