namespace ReasoningServe.Inference.Benchmarks;

/// <summary>Mean, median, population standard deviation and percentiles of one latency series, computed as numpy's
/// mean, median, std and percentile (linear interpolation between closest ranks) are in vLLM's report.</summary>
internal sealed class LatencyStats
{
    private readonly double[] _sorted;

    public LatencyStats(List<double> values)
    {
        _sorted = [.. values];
        Array.Sort(_sorted);
        if (_sorted.Length == 0)
        {
            return;
        }
        double sum = 0;
        foreach (double v in _sorted)
        {
            sum += v;
        }
        Mean = sum / _sorted.Length;
        double squares = 0;
        foreach (double v in _sorted)
        {
            squares += (v - Mean) * (v - Mean);
        }
        Std = Math.Sqrt(squares / _sorted.Length);
    }

    public int Count => _sorted.Length;
    public double Mean { get; }
    public double Std { get; }
    public double Median => Percentile(50);

    /// <summary>0 for an empty series, as vLLM reports a metric no request produced.</summary>
    public double Percentile(double p)
    {
        if (_sorted.Length == 0)
        {
            return 0;
        }
        double rank = p / 100 * (_sorted.Length - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return _sorted[lo] + (_sorted[hi] - _sorted[lo]) * (rank - lo);
    }
}
