using System.Globalization;
using System.Text;

namespace ReasoningServe.Inference.Serving.Metrics;

/// <summary>A Prometheus histogram: cumulative buckets, sum and count, updated lock-free from request threads.</summary>
internal sealed class Histogram(string name, string help, double[] upperBounds)
{
    private readonly long[] _counts = new long[upperBounds.Length + 1];
    private long _sumMicros;

    public void Observe(double seconds)
    {
        var i = 0;
        while (i < upperBounds.Length && seconds > upperBounds[i])
        {
            i++;
        }
        Interlocked.Increment(ref _counts[i]);
        Interlocked.Add(ref _sumMicros, (long)(seconds * 1e6));
    }

    public void WriteTo(StringBuilder text, string labels)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(" histogram\n");
        long cumulative = 0;
        for (var i = 0; i < upperBounds.Length; i++)
        {
            cumulative += Volatile.Read(ref _counts[i]);
            text.Append(name).Append("_bucket{").Append(labels).Append(",le=\"")
                .Append(upperBounds[i].ToString(CultureInfo.InvariantCulture)).Append("\"} ").Append(cumulative).Append('\n');
        }
        cumulative += Volatile.Read(ref _counts[^1]);
        text.Append(name).Append("_bucket{").Append(labels).Append(",le=\"+Inf\"} ").Append(cumulative).Append('\n');
        text.Append(name).Append("_sum{").Append(labels).Append("} ")
            .Append((Volatile.Read(ref _sumMicros) / 1e6).ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append(name).Append("_count{").Append(labels).Append("} ").Append(cumulative).Append('\n');
    }
}
