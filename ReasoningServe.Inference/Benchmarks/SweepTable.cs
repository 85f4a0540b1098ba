using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>Sweep mode's one table: a row per concurrency level, the numbers serving comparisons quote.</summary>
internal static class SweepTable
{
    public static string Markdown(IReadOnlyList<(int Concurrency, JsonObject Result)> runs)
    {
        var s = new StringBuilder();
        s.AppendLine("| concurrency | completed | failed | req/s | output tok/s | total tok/s | median TTFT ms | p99 TTFT ms | median TPOT ms | p99 TPOT ms | median ITL ms | p99 ITL ms | median E2E ms |");
        s.AppendLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var (level, r) in runs)
        {
            s.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {level} | {r["completed"]} | {r["failed"]} | {D(r, "request_throughput"):0.00} | {D(r, "output_throughput"):0.0} | {D(r, "total_token_throughput"):0.0} | {D(r, "median_ttft_ms"):0.0} | {D(r, "p99_ttft_ms"):0.0} | {D(r, "median_tpot_ms"):0.00} | {D(r, "p99_tpot_ms"):0.00} | {D(r, "median_itl_ms"):0.00} | {D(r, "p99_itl_ms"):0.00} | {D(r, "median_e2el_ms"):0.0} |"));
        }
        return s.ToString().TrimEnd();
    }

    private static double D(JsonObject r, string key) => r[key]!.GetValue<double>();
}
