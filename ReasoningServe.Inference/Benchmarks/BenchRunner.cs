using System.Diagnostics;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>
/// Drives one run: --num-warmups untimed requests on prompts of their own (so they do not pre-fill the prefix cache for
/// the timed prompts), then every prompt sent at its arrival time (<see cref="ArrivalSchedule"/>), at most
/// --max-concurrency in flight. A request that arrives while the limit is reached waits for a slot; its E2E latency is
/// measured from when it is actually sent, as vLLM does.
/// </summary>
internal static class BenchRunner
{
    public static async Task<(List<RequestMetrics> Requests, double Duration)> RunAsync(BenchOptions options,
        IReadOnlyList<BenchPrompt> prompts, IReadOnlyList<BenchPrompt> warmups, BenchClient client, int seed, TextWriter progress,
        CancellationToken cancellationToken)
    {
        var bodies = new byte[prompts.Count][];
        for (int i = 0; i < prompts.Count; i++)
        {
            bodies[i] = client.Body(prompts[i]);
        }
        using var limit = new SemaphoreSlim(options.MaxConcurrency ?? int.MaxValue);
        if (warmups.Count > 0)
        {
            var warm = new Task[warmups.Count];
            for (int i = 0; i < warmups.Count; i++)
            {
                BenchPrompt prompt = warmups[i];
                warm[i] = Limited(() => client.SendAsync(prompt, client.Body(prompt), cancellationToken));
            }
            await Task.WhenAll(warm);
        }

        double[] arrivals = ArrivalSchedule.Times(prompts.Count, options.RequestRate, options.Burstiness, seed);
        var bar = new ProgressBar(progress, prompts.Count, enabled: !options.DisableProgress);
        var tasks = new Task<RequestMetrics>[prompts.Count];
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < prompts.Count; i++)
        {
            double wait = arrivals[i] - Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(wait), cancellationToken);
            }
            int index = i;
            tasks[i] = Limited(async () =>
            {
                double sent = Stopwatch.GetElapsedTime(start).TotalSeconds;
                RequestMetrics metrics = await client.SendAsync(prompts[index], bodies[index], cancellationToken);
                metrics.StartTime = sent;
                bar.Advance(Stopwatch.GetElapsedTime(start).TotalSeconds);
                return metrics;
            });
        }
        RequestMetrics[] results = await Task.WhenAll(tasks);
        double duration = Stopwatch.GetElapsedTime(start).TotalSeconds;
        bar.Finish();
        return ([.. results], duration);

        async Task<T> Limited<T>(Func<Task<T>> send)
        {
            await limit.WaitAsync(cancellationToken);
            try
            {
                return await send();
            }
            finally
            {
                limit.Release();
            }
        }
    }
}
