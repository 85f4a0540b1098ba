namespace ReasoningServe.Inference.Benchmarks;

/// <summary>
/// When each request is sent, in seconds from the start: a gamma renewal process with mean gap 1/rate, shape =
/// burstiness (1: exponential gaps, a Poisson process; below 1 burstier; above 1 more regular), scale =
/// 1/(rate·burstiness). Like vLLM, the times are then scaled so the last one falls at exactly N/rate, which keeps the
/// offered load, and so throughput, from depending on the seed. An infinite rate sends everything at 0.
/// </summary>
internal static class ArrivalSchedule
{
    public static double[] Times(int count, double rate, double burstiness, int seed)
    {
        var times = new double[count];
        if (double.IsPositiveInfinity(rate) || count == 0)
        {
            return times;
        }
        var gaps = new GammaGaps(rate, burstiness, seed);
        double t = 0;
        for (int i = 0; i < count; i++)
        {
            t += gaps.Next();
            times[i] = t;
        }
        double scale = count / rate / times[^1];
        for (int i = 0; i < count; i++)
        {
            times[i] *= scale;
        }
        return times;
    }
}

/// <summary>Seeded gamma-distributed gaps with mean 1/rate and shape = burstiness (Marsaglia and Tsang's method).</summary>
internal sealed class GammaGaps(double rate, double burstiness, int seed)
{
    private readonly Random _rng = new(seed);

    public double Next() => double.IsPositiveInfinity(burstiness) ? 1 / rate : Gamma(burstiness) / (rate * burstiness);

    // Shapes below 1 use the boost Gamma(a) = Gamma(a+1)·U^(1/a).
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
