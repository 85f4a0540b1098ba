using System.Text.Json;
using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Model;
using Xunit.Abstractions;

namespace ReasoningServe.Tests.Backends.Cpu;

/// <summary>
/// Greedy decoding through the CPU backend alone against transformers (fp32, eager attention, same stored weights):
/// testdata/goldens/models/ARCH/golden.json. Each case runs alone, all cases batched in one Forward per step, and with
/// the prompt prefilled in two chunks; all three must give the same tokens and top-5 logprobs.
/// </summary>
public sealed class CpuGoldenTests(ITestOutputHelper output)
{
    private const int BlockSize = 8;
    private const double LogprobTolerance = 1e-3;

    public enum Schedule
    {
        OneSequenceAtATime,
        AllSequencesBatched,
        PromptPrefilledInTwoChunks,
    }

    private sealed record Case(int[] Prompt, int[] Greedy, (int Id, double Logprob)[][] Top5);

    private static string? FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ReasoningServe.sln")))
            {
                return dir.FullName;
            }
        }
        return null;
    }

    private static List<Case> ReadCases(string path)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(path));
        var cases = new List<Case>();
        foreach (JsonElement c in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            int[] prompt = c.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            int[] greedy = c.GetProperty("greedy").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            (int, double)[][] top5 = c.GetProperty("top5").EnumerateArray()
                .Select(step => step.EnumerateArray().Select(p => (p[0].GetInt32(), p[1].GetDouble())).ToArray())
                .ToArray();
            cases.Add(new Case(prompt, greedy, top5));
        }
        return cases;
    }

    [SkippableTheory]
    [InlineData("qwen2", Schedule.OneSequenceAtATime)]
    [InlineData("qwen2", Schedule.AllSequencesBatched)]
    [InlineData("qwen2", Schedule.PromptPrefilledInTwoChunks)]
    [InlineData("qwen3", Schedule.OneSequenceAtATime)]
    [InlineData("qwen3", Schedule.AllSequencesBatched)]
    [InlineData("qwen3", Schedule.PromptPrefilledInTwoChunks)]
    [InlineData("llama", Schedule.OneSequenceAtATime)]
    [InlineData("llama", Schedule.AllSequencesBatched)]
    [InlineData("llama", Schedule.PromptPrefilledInTwoChunks)]
    public void Greedy_decode_matches_transformers(string arch, Schedule schedule)
    {
        string? root = FindRepositoryRoot();
        string folder = Path.Combine(root ?? ".", "testdata", "goldens", "models", arch);
        string goldenPath = Path.Combine(folder, "golden.json");
        Skip.IfNot(File.Exists(goldenPath), $"{goldenPath} is missing: the lead generates it with tools/goldens/make_goldens.py (merge main).");

        List<Case> cases = ReadCases(goldenPath);
        using LoadedModel model = ModelLoader.Load(folder);
        using var backend = new CpuBackend(model.Config, model.Weights, threads: 2, ownsWeights: false);
        int steps = cases[0].Greedy.Length;
        int blocksPerSeq = (cases.Max(c => c.Prompt.Length) + steps + BlockSize - 1) / BlockSize;
        backend.AllocateKvCache(cases.Count * blocksPerSeq, BlockSize);
        var builder = BatchBuilder.Contiguous(BlockSize, blocksPerSeq);
        int vocab = model.Config.VocabSize;

        var generated = cases.Select(_ => new List<int>()).ToArray();
        var logprobs = cases.Select(_ => new List<float[]>()).ToArray();
        void Record(int seq, ReadOnlySpan<float> logits)
        {
            float[] lp = LogSoftmax(logits);
            logprobs[seq].Add(lp);
            generated[seq].Add(ArgMax(lp));
        }

        var logitsBuffer = new float[cases.Count * vocab];
        if (schedule == Schedule.AllSequencesBatched)
        {
            BatchBuilder.Part[] prefill = cases.Select((c, i) => new BatchBuilder.Part(i, c.Prompt, 0)).ToArray();
            backend.Forward(builder.Build(prefill), logitsBuffer);
            for (int i = 0; i < cases.Count; i++)
            {
                Record(i, logitsBuffer.AsSpan(i * vocab, vocab));
            }
            for (int step = 1; step < steps; step++)
            {
                BatchBuilder.Part[] decode = cases.Select((c, i) => new BatchBuilder.Part(i, [generated[i][^1]], c.Prompt.Length + step - 1)).ToArray();
                backend.Forward(builder.Build(decode), logitsBuffer);
                for (int i = 0; i < cases.Count; i++)
                {
                    Record(i, logitsBuffer.AsSpan(i * vocab, vocab));
                }
            }
        }
        else
        {
            for (int i = 0; i < cases.Count; i++)
            {
                int[] prompt = cases[i].Prompt;
                int split = schedule == Schedule.PromptPrefilledInTwoChunks && prompt.Length > 1 ? prompt.Length / 2 : 0;
                if (split > 0)
                {
                    backend.Forward(builder.Build(new BatchBuilder.Part(i, prompt[..split], 0)), logitsBuffer);
                }
                backend.Forward(builder.Build(new BatchBuilder.Part(i, prompt[split..], split)), logitsBuffer);
                Record(i, logitsBuffer.AsSpan(0, vocab));
                for (int step = 1; step < steps; step++)
                {
                    backend.Forward(builder.Build(new BatchBuilder.Part(i, [generated[i][^1]], prompt.Length + step - 1)), logitsBuffer);
                    Record(i, logitsBuffer.AsSpan(0, vocab));
                }
            }
        }

        double worst = 0;
        for (int i = 0; i < cases.Count; i++)
        {
            Assert.Equal(cases[i].Greedy, generated[i]);
            for (int step = 0; step < steps; step++)
            {
                foreach ((int id, double expected) in cases[i].Top5[step])
                {
                    double error = Math.Abs(logprobs[i][step][id] - expected);
                    worst = Math.Max(worst, error);
                    Assert.True(error <= LogprobTolerance, $"case {i} step {step} token {id}: logprob {logprobs[i][step][id]}, transformers {expected}");
                }
            }
        }
        output.WriteLine($"{arch} {schedule}: {cases.Count} cases x {steps} tokens equal; worst top-5 logprob error {worst:E2}");
    }

    /// <summary>log_softmax in double over fp32 logits, as the golden's torch.log_softmax of fp32 logits.</summary>
    private static float[] LogSoftmax(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (float v in logits)
        {
            max = Math.Max(max, v);
        }
        double sum = 0;
        foreach (float v in logits)
        {
            sum += Math.Exp(v - max);
        }
        double logSum = max + Math.Log(sum);
        var result = new float[logits.Length];
        for (int i = 0; i < logits.Length; i++)
        {
            result[i] = (float)(logits[i] - logSum);
        }
        return result;
    }

    private static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }
        return best;
    }
}
