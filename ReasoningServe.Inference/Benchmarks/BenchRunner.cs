using System.Diagnostics;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>
/// Drives the load: requests start at the arrival times of a gamma process (Poisson when burstiness is 1; all at once for
/// an infinite rate), at most --max-concurrency in flight, after --num-warmups untimed requests.
/// </summary>
internal static class BenchRunner
{
    public static async Task<(List<RequestMetrics> Requests, double Duration)> RunAsync(
        BenchOptions options, IReadOnlyList<BenchPrompt> prompts, BenchClient client, TextWriter progress, CancellationToken cancellationToken)
    {
        for (int i = 0; i < options.NumWarmups; i++)
        {
            await client.SendAsync(prompts[i % prompts.Count], cancellationToken);
        }

        using var limit = new SemaphoreSlim(options.MaxConcurrency ?? int.MaxValue);
        var arrivals = new ArrivalTimes(options.RequestRate, options.Burstiness, options.Seed);
        var tasks = new Task<RequestMetrics>[prompts.Count];
        var bar = new ProgressBar(progress, prompts.Count, enabled: !options.DisableProgress);
        var clock = Stopwatch.StartNew();
        double next = 0;
        for (int i = 0; i < prompts.Count; i++)
        {
            double wait = next - clock.Elapsed.TotalSeconds;
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(wait), cancellationToken);
            }
            next += arrivals.Next();
            await limit.WaitAsync(cancellationToken);
            BenchPrompt prompt = prompts[i];
            tasks[i] = Task.Run(async () =>
            {
                try
                {
                    return await client.SendAsync(prompt, cancellationToken);
                }
                finally
                {
                    limit.Release();
                    bar.Advance();
                }
            }, cancellationToken);
        }
        RequestMetrics[] results = await Task.WhenAll(tasks);
        double duration = clock.Elapsed.TotalSeconds;
        bar.Finish();
        return ([.. results], duration);
    }

    private sealed class ProgressBar(TextWriter writer, int total, bool enabled)
    {
        private int _done;

        public void Advance()
        {
            int done = Interlocked.Increment(ref _done);
            if (enabled)
            {
                lock (writer)
                {
                    int filled = 30 * done / total;
                    writer.Write($"\r[{new string('=', filled)}{new string(' ', 30 - filled)}] {done}/{total}");
                }
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
}

/// <summary>
/// Inter-arrival times of a gamma renewal process with mean 1/rate: shape = burstiness (1 gives exponential gaps, a
/// Poisson process), scale = 1/(rate·burstiness). Seeded, so a run's schedule is reproducible.
/// </summary>
internal sealed class ArrivalTimes(double rate, double burstiness, int seed)
{
    private readonly Random _rng = new(seed);

    public double Next() => double.IsPositiveInfinity(rate) ? 0 : Gamma(burstiness) / (rate * burstiness);

    // Marsaglia and Tsang's method; shapes below 1 use the boost Gamma(a) = Gamma(a+1)·U^(1/a).
    private double Gamma(double shape)
    {
        if (shape < 1)
        {
            return Gamma(shape + 1) * Math.Pow(1.0 - _rng.NextDouble(), 1 / shape);
        }
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x = Normal(), v = 1 + c * x;
            if (v <= 0)
            {
                continue;
            }
            v = v * v * v;
            double u = 1.0 - _rng.NextDouble();
            if (Math.Log(u) < 0.5 * x * x + d - d * v + d * Math.Log(v))
            {
                return d * v;
            }
        }
    }

    private double Normal() =>
        Math.Sqrt(-2 * Math.Log(1.0 - _rng.NextDouble())) * Math.Cos(2 * Math.PI * _rng.NextDouble());
}
