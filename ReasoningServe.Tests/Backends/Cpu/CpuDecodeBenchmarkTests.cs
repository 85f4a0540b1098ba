using ReasoningServe.Inference.Backends.Cpu;
using Xunit.Abstractions;

namespace ReasoningServe.Tests.Backends.Cpu;

/// <summary>
/// Runs the CPU decode benchmark on demand (RS_CPU_BENCH=1): it builds a 0.5B-parameter dummy model, too heavy for every
/// test run on a shared machine. It prints numbers and asserts nothing about speed.
/// </summary>
public sealed class CpuDecodeBenchmarkTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void Qwen25_half_billion_decode_throughput_table()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("RS_CPU_BENCH") == "1", "set RS_CPU_BENCH=1 to run the CPU decode benchmark");
        var writer = new StringWriter();
        IReadOnlyList<CpuDecodeBenchmark.Result> results = CpuDecodeBenchmark.Run(writer, steps: 8);
        output.WriteLine(writer.ToString());
        Assert.Equal([1, 8], results.Select(r => r.BatchSize));
    }
}
