using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Model;
using ReasoningServe.Tests.Backends.Cpu;

namespace ReasoningServe.Tests.Backends.Cuda;

/// <summary>
/// The CUDA backend against the CPU backend on the golden models (needs a GPU; skipped with the runtime's reason
/// elsewhere). The thorough GPU checks live in tools/cuda-check, which runs where no SDK is installed.
/// </summary>
public sealed class CudaBackendTests
{
    [SkippableTheory]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    [InlineData("llama")]
    public void Prefill_logits_match_the_cpu_backend_within_bf16_tolerance(string arch)
    {
        Skip.IfNot(CudaRuntime.IsAvailable(out string reason), reason);
        string folder = Path.Combine(FindRoot(), "testdata", "goldens", "models", arch);
        Skip.IfNot(File.Exists(Path.Combine(folder, "config.json")), $"{folder} is missing (merge main).");
        using LoadedModel model = ModelLoader.Load(folder);
        using var cpu = new CpuBackend(model.Config, model.Weights, threads: 2, ownsWeights: false);
        using var cuda = CudaBackend.Create(model);
        var builder = BatchBuilder.Contiguous(8, 4);
        var batch = builder.Build(new BatchBuilder.Part(0, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0), new BatchBuilder.Part(1, [11, 12, 13], 0));
        int vocab = model.Config.VocabSize;
        var expected = new float[2 * vocab];
        var actual = new float[2 * vocab];
        cpu.AllocateKvCache(8, 8);
        cuda.AllocateKvCache(8, 8);
        cpu.Forward(batch, expected);
        cuda.Forward(batch, actual);
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff += Math.Pow(actual[i] - expected[i], 2);
            norm += Math.Pow(expected[i], 2);
        }
        Assert.True(Math.Sqrt(diff / norm) < 5e-2, $"relative logits error {Math.Sqrt(diff / norm):E2}");
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ReasoningServe.sln")))
            {
                return dir.FullName;
            }
        }
        return ".";
    }
}
