using System.Globalization;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>A one-line progress bar on stderr (like tqdm's): completed requests, elapsed time and rate, redrawn at most
/// ten times a second.</summary>
internal sealed class ProgressBar(TextWriter writer, int total, bool enabled)
{
    private const int Width = 30;
    private readonly Lock _lock = new();
    private int _done;
    private double _drawnAt = double.NegativeInfinity;

    public void Advance(double elapsedSeconds)
    {
        int done = Interlocked.Increment(ref _done);
        if (!enabled)
        {
            return;
        }
        lock (_lock)
        {
            if (done < total && elapsedSeconds - _drawnAt < 0.1)
            {
                return;
            }
            _drawnAt = elapsedSeconds;
            int filled = Width * done / total;
            writer.Write(string.Create(CultureInfo.InvariantCulture,
                $"\r|{new string('#', filled)}{new string(' ', Width - filled)}| {done}/{total} [{elapsedSeconds:0.0}s, {done / Math.Max(elapsedSeconds, 1e-9):0.00} req/s]"));
            writer.Flush();
        }
    }

    public void Finish()
    {
        if (enabled)
        {
            writer.WriteLine();
        }
    }
}
