using System.Globalization;

namespace ReasoningServe.AppHost.Orchestration;

/// <summary>Just enough of the Prometheus text format to add up the samples of a few metrics.</summary>
internal static class PrometheusText
{
    /// <summary>Ongoing requests of a replica as vLLM reports them: running plus waiting, over all label sets.</summary>
    public static readonly string[] OngoingRequestMetrics = ["vllm:num_requests_running", "vllm:num_requests_waiting"];

    public static double Sum(string text, IReadOnlyCollection<string> metricNames)
    {
        var total = 0.0;
        foreach (var rawLine in text.AsSpan().EnumerateLines())
        {
            var line = rawLine.Trim();
            if (line.IsEmpty || line[0] == '#')
            {
                continue;
            }
            var nameEnd = line.IndexOfAny('{', ' ');
            if (nameEnd <= 0 || !Contains(metricNames, line[..nameEnd]))
            {
                continue;
            }
            // Label values may hold spaces; the value follows the closing brace.
            var rest = line[nameEnd] == '{' ? line[(line.LastIndexOf('}') + 1)..] : line[nameEnd..];
            rest = rest.TrimStart();
            var valueEnd = rest.IndexOf(' ');
            var value = valueEnd < 0 ? rest : rest[..valueEnd];
            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var sample) && double.IsFinite(sample))
            {
                total += sample;
            }
        }
        return total;
    }

    private static bool Contains(IReadOnlyCollection<string> names, ReadOnlySpan<char> name)
    {
        foreach (var candidate in names)
        {
            if (name.SequenceEqual(candidate))
            {
                return true;
            }
        }
        return false;
    }
}
