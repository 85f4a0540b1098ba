using System.Text.Json.Nodes;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>PNG charts for the README: latency percentiles of one run, and throughput against concurrency for a sweep.</summary>
internal static class BenchChart
{
    public static void Latencies(JsonObject result, string path)
    {
        var plot = new ScottPlot.Plot();
        string[] metrics = ["ttft", "tpot", "itl", "e2el"];
        string[] percentiles = ["median", "p90", "p99"];
        var bars = new List<ScottPlot.Bar>();
        for (int m = 0; m < metrics.Length; m++)
        {
            for (int p = 0; p < percentiles.Length; p++)
            {
                string key = percentiles[p] == "median" ? $"median_{metrics[m]}_ms" : $"{percentiles[p]}_{metrics[m]}_ms";
                double value = result[key]?.GetValue<double>() ?? 0;
                bars.Add(new ScottPlot.Bar { Position = m * 4 + p, Value = value, FillColor = ScottPlot.Palette.Default.GetColor(p) });
            }
        }
        plot.Add.Bars(bars);
        plot.Axes.Bottom.SetTicks([1, 5, 9, 13], ["TTFT", "TPOT", "ITL", "E2E"]);
        plot.YLabel("milliseconds (bars: p50, p90, p99)");
        plot.Title($"{result["model_id"]}: {result["completed"]} requests, {result["output_throughput"]?.GetValue<double>():0} output tok/s");
        plot.Axes.Margins(bottom: 0);
        plot.SavePng(path, 900, 500);
    }

    public static void Sweep(IReadOnlyList<(int Concurrency, JsonObject Result)> runs, string path)
    {
        var plot = new ScottPlot.Plot();
        double[] xs = [.. runs.Select(r => (double)r.Concurrency)];
        var throughput = plot.Add.Scatter(xs, [.. runs.Select(r => r.Result["output_throughput"]!.GetValue<double>())]);
        throughput.LegendText = "output tok/s";
        plot.Axes.Bottom.Label.Text = "max concurrency";
        plot.YLabel("output tokens/s");
        plot.Title("Throughput against concurrency");
        plot.ShowLegend();
        plot.SavePng(path, 900, 500);
    }
}
