using ReasoningServe.Inference.Benchmarks;

namespace ReasoningServe.Tests.Benchmarks;

/// <summary>The arrival process's statistics with fixed seeds: what the gamma/Poisson laws say, within sampling error.</summary>
public class ArrivalScheduleTests
{
    private static double[] Gaps(double[] times)
    {
        var gaps = new double[times.Length];
        for (int i = 0; i < times.Length; i++)
        {
            gaps[i] = times[i] - (i == 0 ? 0 : times[i - 1]);
        }
        return gaps;
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.5)]
    [InlineData(4.0)]
    public void Gaps_average_one_over_the_rate_with_the_spread_the_burstiness_sets(double burstiness)
    {
        double[] times = ArrivalSchedule.Times(40_000, rate: 10, burstiness, seed: 3);
        double[] gaps = Gaps(times);
        double mean = gaps.Average();
        double cv = Math.Sqrt(gaps.Sum(g => (g - mean) * (g - mean)) / gaps.Length) / mean;

        // Scaled so the last request arrives at exactly N/rate, as vLLM does.
        Assert.Equal(4000, times[^1], 9);
        Assert.Equal(0.1, mean, 9);
        Assert.All(gaps, g => Assert.True(g >= 0));
        // A gamma law of shape k has coefficient of variation 1/sqrt(k): 1 for Poisson arrivals.
        Assert.InRange(cv, 1 / Math.Sqrt(burstiness) * 0.97, 1 / Math.Sqrt(burstiness) * 1.03);
    }

    [Fact]
    public void Poisson_arrivals_have_exponential_gaps_and_poisson_counts()
    {
        double[] times = ArrivalSchedule.Times(50_000, rate: 20, burstiness: 1, seed: 11);
        double[] gaps = Gaps(times);
        // P(gap < mean) = 1 - 1/e for an exponential law; sampling error at n = 50,000 is about 0.002.
        double below = gaps.Count(g => g < 1.0 / 20) / (double)gaps.Length;
        Assert.InRange(below, 1 - 1 / Math.E - 0.01, 1 - 1 / Math.E + 0.01);
        // Arrivals per one-second window: mean 20, and variance equal to the mean (index of dispersion 1).
        int[] counts = new int[(int)Math.Ceiling(times[^1])];
        foreach (double t in times)
        {
            counts[Math.Min(counts.Length - 1, (int)t)]++;
        }
        double m = counts.Average();
        double variance = counts.Sum(c => (c - m) * (c - m)) / counts.Length;
        Assert.InRange(m, 19.9, 20.1);
        Assert.InRange(variance / m, 0.9, 1.1);
    }

    [Fact]
    public void The_seed_fixes_the_schedule_and_an_infinite_rate_sends_all_at_once()
    {
        Assert.Equal(ArrivalSchedule.Times(100, 5, 1, seed: 42), ArrivalSchedule.Times(100, 5, 1, seed: 42));
        Assert.NotEqual(ArrivalSchedule.Times(100, 5, 1, seed: 42), ArrivalSchedule.Times(100, 5, 1, seed: 43));
        Assert.All(ArrivalSchedule.Times(100, double.PositiveInfinity, 1, seed: 42), t => Assert.Equal(0, t));
        double[] regular = Gaps(ArrivalSchedule.Times(10, 4, double.PositiveInfinity, seed: 1));
        Assert.All(regular, g => Assert.Equal(0.25, g, 12));
    }
}
