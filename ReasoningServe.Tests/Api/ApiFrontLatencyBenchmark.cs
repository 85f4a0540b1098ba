using System.Diagnostics;
using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace ReasoningServe.Tests.Api;

/// <summary>
/// The front's added latency: the same requests to a loopback replica directly and through the front, sequentially, so
/// the difference is the front's own work (parse, route, proxy). Not a test (no timing assertions): it runs only with
/// RS_BENCHMARK=1 and prints a Markdown table, also written to $RS_BENCHMARK_OUT when set:
/// <c>RS_BENCHMARK=1 dotnet test ReasoningServe.Tests -c Release --filter FullyQualifiedName~ApiFrontLatencyBenchmark --logger "console;verbosity=detailed"</c>
/// </summary>
public class ApiFrontLatencyBenchmark(ITestOutputHelper output)
{
    private const int Requests = 2000;
    private const int Streams = 20;
    private const int ChunksPerStream = 100;

    [SkippableFact]
    public async Task Measure_added_latency_per_request_and_inter_chunk_gaps()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("RS_BENCHMARK") == "1", "Benchmark: set RS_BENCHMARK=1 to run it.");
        await using var replica = await StubReplica.StartAsync();
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", replica));
        using var direct = new HttpClient { BaseAddress = new Uri(replica.Url + "/") };
        var body = ApiFront.Chat("stub-model", "How much latency does the front add to one request?");

        async Task<double[]> TimeRequestsAsync(HttpClient client)
        {
            var times = new double[Requests];
            for (var i = -200; i < Requests; i++) // the first 200 warm up JIT and connection pools
            {
                var start = Stopwatch.GetTimestamp();
                using var response = await client.PostAsync("v1/chat/completions", ApiFront.Json(body));
                await response.Content.ReadAsByteArrayAsync();
                if (i >= 0)
                {
                    times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }
            }
            return times;
        }

        var streamBody = ApiFront.Chat("stub-model", "stream please", stream: true);
        async Task<double[]> TimeChunkGapsAsync(HttpClient client)
        {
            var gaps = new List<double>();
            for (var s = -2; s < Streams; s++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ApiFront.Json(streamBody) };
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                long last = 0;
                while (await reader.ReadLineAsync() is { } line)
                {
                    if (line.Length == 0)
                    {
                        continue;
                    }
                    var now = Stopwatch.GetTimestamp();
                    if (last != 0 && s >= 0)
                    {
                        gaps.Add(Stopwatch.GetElapsedTime(last, now).TotalMilliseconds);
                    }
                    last = now;
                }
            }
            return gaps.ToArray();
        }

        var directTimes = await TimeRequestsAsync(direct);
        var frontTimes = await TimeRequestsAsync(front.Http);
        replica.StreamChunks = ChunksPerStream;
        replica.ChunkDelay = TimeSpan.FromMilliseconds(5);
        var directGaps = await TimeChunkGapsAsync(direct);
        var frontGaps = await TimeChunkGapsAsync(front.Http);

        var table = new StringBuilder();
        table.AppendLine("| path | p50 ms | p90 ms | p99 ms | mean ms |");
        table.AppendLine("| --- | --- | --- | --- | --- |");
        Row(table, $"request, direct to replica (n={Requests})", directTimes);
        Row(table, $"request, through the front (n={Requests})", frontTimes);
        Row(table, $"inter-chunk gap, direct ({Streams}×{ChunksPerStream} chunks, 5 ms apart)", directGaps);
        Row(table, "inter-chunk gap, through the front", frontGaps);
        table.AppendLine();
        table.AppendLine(CultureInfo.InvariantCulture, $"Added latency per request (p50 difference): {Percentile(frontTimes, 0.5) - Percentile(directTimes, 0.5):F3} ms; " +
            $"inter-chunk gap change (p50 difference): {Percentile(frontGaps, 0.5) - Percentile(directGaps, 0.5):F3} ms.");
        output.WriteLine(table.ToString());
        if (Environment.GetEnvironmentVariable("RS_BENCHMARK_OUT") is { Length: > 0 } path)
        {
            await File.WriteAllTextAsync(path, table.ToString());
        }
    }

    private static void Row(StringBuilder table, string name, double[] values) =>
        table.AppendLine(CultureInfo.InvariantCulture,
            $"| {name} | {Percentile(values, 0.5):F3} | {Percentile(values, 0.9):F3} | {Percentile(values, 0.99):F3} | {values.Average():F3} |");

    private static double Percentile(double[] values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
    }
}
