using System.Text.Json.Nodes;
using ScottPlot;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>PNG charts for the README (ScottPlot, rendered by Skia without a display): the latency percentiles of one
/// run, and throughput and latency against concurrency for a sweep.</summary>
internal static class BenchChart
{
    private static readonly (string Key, string Name)[] Metrics = [("ttft", "TTFT"), ("tpot", "TPOT"), ("itl", "ITL"), ("e2el", "E2E")];
    private static readonly (string Prefix, string Name)[] Percentiles = [("median", "p50"), ("p90", "p90"), ("p99", "p99")];

    public static void Latencies(JsonObject result, string path)
    {
        var plot = new Plot();
        var bars = new List<Bar>();
        for (int m = 0; m < Metrics.Length; m++)
        {
            for (int p = 0; p < Percentiles.Length; p++)
            {
                double ms = Value(result, $"{Percentiles[p].Prefix}_{Metrics[m].Key}_ms");
                bars.Add(new Bar
                {
                    Position = m * (Percentiles.Length + 1) + p,
                    Value = ms,
                    // E2E dwarfs the per-token numbers: the labels keep small bars readable.
                    Label = ms.ToString(ms < 10 ? "0.00" : "0", System.Globalization.CultureInfo.InvariantCulture),
                    FillColor = Palette.Default.GetColor(p),
                });
            }
        }
        plot.Add.Bars(bars);
        for (int p = 0; p < Percentiles.Length; p++)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = Percentiles[p].Name, FillColor = Palette.Default.GetColor(p) });
        }
        double[] ticks = [.. Enumerable.Range(0, Metrics.Length).Select(m => m * (Percentiles.Length + 1) + 1.0)];
        plot.Axes.Bottom.SetTicks(ticks, [.. Metrics.Select(m => m.Name)]);
        plot.Title($"{result["model_id"]}: {result["completed"]} requests, concurrency {result["max_concurrency"]?.ToString() ?? "unbounded"}, "
            + $"{Value(result, "output_throughput"):0} output tok/s");
        plot.YLabel("milliseconds");
        plot.Axes.Margins(bottom: 0);
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 900, 500);
    }

    public static void Sweep(IReadOnlyList<(int Concurrency, JsonObject Result)> runs, string path)
    {
        var plot = new Plot();
        // Levels are usually powers of two or four: spaced evenly on a log axis, labelled with their values.
        double[] xs = [.. runs.Select(r => Math.Log2(r.Concurrency))];
        var throughput = plot.Add.Scatter(xs, [.. runs.Select(r => Value(r.Result, "output_throughput"))]);
        throughput.LegendText = "output tok/s (left)";
        throughput.LineWidth = 2;
        var tpot = plot.Add.Scatter(xs, [.. runs.Select(r => Value(r.Result, "median_tpot_ms"))]);
        tpot.LegendText = "median TPOT ms (right)";
        tpot.Axes.YAxis = plot.Axes.Right;
        var ttft = plot.Add.Scatter(xs, [.. runs.Select(r => Value(r.Result, "median_ttft_ms"))]);
        ttft.LegendText = "median TTFT ms (right)";
        ttft.Axes.YAxis = plot.Axes.Right;
        plot.Axes.Bottom.SetTicks(xs, [.. runs.Select(r => r.Concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        plot.Axes.Bottom.Label.Text = "max concurrency";
        plot.Axes.Left.Label.Text = "output tokens/s";
        plot.Axes.Right.Label.Text = "milliseconds";
        plot.Title($"{runs[0].Result["model_id"]}: throughput and latency against concurrency");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 900, 500);
    }

    private static double Value(JsonObject result, string key) => result[key]?.GetValue<double>() ?? 0;
}
