using System.Text.Json;
using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Model;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// The golden tiny models through CudaBackend (bf16) with greedy decode against transformers' fp32 greedy tokens.
/// bf16 may leave the fp32 path after a near-tie, so the report gives the first divergent step, the CPU backend's
/// (fp32) agreement beside it, and a teacher-forced comparison (golden tokens fed to CUDA) that measures top-1
/// agreement and top-5 logprob error at every step independent of earlier choices.
/// </summary>
internal static class GoldenChecks
{
    private const int BlockSize = 8;

    public static void Run(string goldensDirectory)
    {
        Report.Section("2. golden models: CUDA bf16 vs transformers fp32 (greedy, 24 steps)");
        foreach (string arch in new[] { "qwen2", "qwen3", "llama" })
        {
            string folder = Path.Combine(goldensDirectory, arch);
            string goldenPath = Path.Combine(folder, "golden.json");
            if (!File.Exists(goldenPath))
            {
                Report.Line($"  {arch}: {goldenPath} missing, skipped");
                continue;
            }
            var (prompts, greedy, top5) = Read(goldenPath);
            using LoadedModel model = ModelLoader.Load(folder);
            int steps = greedy[0].Length;
            int blocksPerSeq = (prompts.Max(p => p.Length) + steps + BlockSize) / BlockSize;

            using var cuda = CudaBackend.Create(model);
            cuda.AllocateKvCache(prompts.Length * blocksPerSeq, BlockSize);
            var cudaDecode = new Decoding(cuda, BlockSize, blocksPerSeq);
            Decoding.Result free = cudaDecode.Run(prompts, steps);
            Decoding.Result chunked = cudaDecode.Run(prompts, steps, chunk: 3);
            Decoding.Result forcedRun = cudaDecode.Run(prompts, steps, forced: greedy);

            using var cpu = new CpuBackend(model.Config, model.Weights, ownsWeights: false);
            cpu.AllocateKvCache(prompts.Length * blocksPerSeq, BlockSize);
            Decoding.Result cpuFree = new Decoding(cpu, BlockSize, blocksPerSeq).Run(prompts, steps);

            int allEqual = 0, cpuEqual = 0, forcedTop1 = 0, forcedSteps = 0;
            double worstLogprob = 0;
            var firstDivergence = new List<string>();
            for (int i = 0; i < prompts.Length; i++)
            {
                int diverge = FirstDifference(free.Tokens[i], greedy[i]);
                allEqual += diverge < 0 ? 1 : 0;
                cpuEqual += FirstDifference(cpuFree.Tokens[i], greedy[i]) < 0 ? 1 : 0;
                if (diverge >= 0)
                {
                    firstDivergence.Add($"case {i} at step {diverge}");
                }
                for (int step = 0; step < steps; step++)
                {
                    forcedSteps++;
                    forcedTop1 += forcedRun.Tokens[i][step] == greedy[i][step] ? 1 : 0;
                    double[] lp = Decoding.LogSoftmax(forcedRun.Logits[i][step]);
                    foreach ((int id, double expected) in top5[i][step])
                    {
                        worstLogprob = Math.Max(worstLogprob, Math.Abs(lp[id] - expected));
                    }
                }
            }
            bool chunkSame = true;
            for (int i = 0; i < prompts.Length; i++)
            {
                chunkSame &= chunked.Tokens[i].AsSpan().SequenceEqual(free.Tokens[i]);
            }
            Report.Line($"  {arch}: {prompts.Length} cases; CUDA free-running greedy equal in {allEqual}/{prompts.Length} cases"
                + (firstDivergence.Count > 0 ? $" (first divergence: {string.Join(", ", firstDivergence)})" : "")
                + $"; CPU fp32 equal in {cpuEqual}/{prompts.Length}");
            Report.Check($"{arch}: teacher-forced top-1 agreement", forcedTop1 >= forcedSteps * 0.9,
                $"{forcedTop1}/{forcedSteps} steps; worst top-5 logprob error {worstLogprob:E2}");
            Report.Check($"{arch}: chunked prefill (3-token chunks) = whole", chunkSame, chunkSame ? "same greedy tokens" : "tokens differ");
        }
    }

    private static int FirstDifference(int[] a, int[] b)
    {
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            if (a[i] != b[i])
            {
                return i;
            }
        }
        return -1;
    }

    private static (int[][] Prompts, int[][] Greedy, (int Id, double Logprob)[][][] Top5) Read(string path)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(path));
        var prompts = new List<int[]>();
        var greedy = new List<int[]>();
        var top5 = new List<(int, double)[][]>();
        foreach (JsonElement c in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            prompts.Add(c.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt32()).ToArray());
            greedy.Add(c.GetProperty("greedy").EnumerateArray().Select(e => e.GetInt32()).ToArray());
            top5.Add(c.GetProperty("top5").EnumerateArray()
                .Select(step => step.EnumerateArray().Select(p => (p[0].GetInt32(), p[1].GetDouble())).ToArray()).ToArray());
        }
        return ([.. prompts], [.. greedy], [.. top5]);
    }
}
