using System.Diagnostics;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Inference.Backends.Cpu;

/// <summary>
/// Decode throughput of <see cref="CpuBackend"/> on a dummy Qwen2.5-0.5B-shaped model (bf16 weights). The context is
/// treated as already cached (no prefill is timed or even run): decode cost depends on the context's length, not on its
/// contents, and a real 0.5B prefill would dominate a short run on a small machine.
/// </summary>
internal static class CpuDecodeBenchmark
{
    public sealed record Result(int BatchSize, int ContextTokens, int Steps, double Seconds)
    {
        public double TokensPerSecond => BatchSize * Steps / Seconds;
        public double MillisecondsPerStep => Seconds * 1000 / Steps;
    }

    public static ModelConfig Qwen25HalfBillion { get; } = new()
    {
        Architecture = "Qwen2ForCausalLM",
        VocabSize = 151936,
        HiddenSize = 896,
        IntermediateSize = 4864,
        NumLayers = 24,
        NumHeads = 14,
        NumKvHeads = 2,
        HeadDim = 64,
        RmsNormEps = 1e-6f,
        RopeTheta = 1000000f,
        TieWordEmbeddings = true,
        QkvBias = true,
        MaxPositionEmbeddings = 32768,
    };

    /// <summary>Runs warm-up plus <paramref name="steps"/> timed decode steps per batch size and prints a table.</summary>
    public static IReadOnlyList<Result> Run(TextWriter output, ModelConfig? config = null, int[]? batchSizes = null,
        int contextTokens = 128, int steps = 16, int threads = 0)
    {
        config ??= Qwen25HalfBillion;
        batchSizes ??= [1, 8];
        const int blockSize = 16;
        int maxBatch = batchSizes.Max();
        int blocksPerSeq = (contextTokens + steps + 2 + blockSize - 1) / blockSize;

        var load = Stopwatch.StartNew();
        using var backend = new CpuBackend(config, DummyWeights.Create(config, TensorDType.BF16), threads);
        backend.AllocateKvCache(maxBatch * blocksPerSeq, blockSize);
        output.WriteLine($"dummy {config.Architecture} ({config.NumLayers} layers, hidden {config.HiddenSize}, vocab {config.VocabSize}, bf16) built in {load.Elapsed.TotalSeconds:F1} s");

        var results = new List<Result>();
        foreach (int batchSize in batchSizes)
        {
            var logits = new float[(long)batchSize * config.VocabSize];
            Step(backend, batchSize, blocksPerSeq, blockSize, contextTokens, logits);
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < steps; i++)
            {
                Step(backend, batchSize, blocksPerSeq, blockSize, contextTokens + 1 + i, logits);
            }
            results.Add(new Result(batchSize, contextTokens, steps, clock.Elapsed.TotalSeconds));
        }

        output.WriteLine($"threads {(threads > 0 ? threads : Environment.ProcessorCount)}, context ~{contextTokens} tokens");
        output.WriteLine("batch | ms/step | tokens/s");
        foreach (Result r in results)
        {
            output.WriteLine($"{r.BatchSize,5} | {r.MillisecondsPerStep,7:F1} | {r.TokensPerSecond,8:F1}");
        }
        return results;
    }

    /// <summary>One decode token per sequence at position <paramref name="position"/>; blocks are contiguous per sequence.</summary>
    private static void Step(CpuBackend backend, int batchSize, int blocksPerSeq, int blockSize, int position, float[] logits)
    {
        var tokens = new int[batchSize];
        var positions = new int[batchSize];
        var slots = new int[batchSize];
        var queryStart = new int[batchSize + 1];
        var contextLens = new int[batchSize];
        var tables = new int[batchSize][];
        for (int s = 0; s < batchSize; s++)
        {
            tables[s] = Enumerable.Range(s * blocksPerSeq, blocksPerSeq).ToArray();
            tokens[s] = (position * 31 + s * 7) % backend.Config.VocabSize;
            positions[s] = position;
            slots[s] = tables[s][position / blockSize] * blockSize + position % blockSize;
            queryStart[s + 1] = s + 1;
            contextLens[s] = position + 1;
        }
        backend.Forward(new ForwardBatch
        {
            NumSeqs = batchSize,
            TokenIds = tokens,
            Positions = positions,
            SlotMapping = slots,
            QueryStart = queryStart,
            ContextLens = contextLens,
            BlockTables = tables,
        }, logits);
    }
}
