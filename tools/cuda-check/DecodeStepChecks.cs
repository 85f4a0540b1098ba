using ReasoningServe.Inference.Backends;
using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Ops;
using ReasoningServe.Inference.Model;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// decode_step.cu (the persistent one-token step) against the separate kernels it replaces with every one-token GEMM in
/// gemv.cu's wide layout, which do the same arithmetic in the same order: the logits must be equal bit for bit, eager
/// and replayed from CUDA graphs, over a short context (one attention split) and a long one (several, merged by the
/// last split of each head), on the Qwen2.5 shapes and a Llama-like one without biases.
/// </summary>
internal static class DecodeStepChecks
{
    private const int BlockSize = 16, Steps = 4;

    private static ModelConfig LlamaLike => DecodeBench.Qwen05B with
    {
        Architecture = "LlamaForCausalLM",
        HiddenSize = 2048,
        IntermediateSize = 5632,
        NumLayers = 6,
        NumHeads = 16,
        NumKvHeads = 8,
        HeadDim = 128,
        VocabSize = 32000,
        QkvBias = false,
        TieWordEmbeddings = false,
    };

    public static void Run()
    {
        Report.Section("8. decode_step.cu (one persistent launch per one-token step) vs the separate kernels, wide layout, dummy weights");
        foreach ((string name, ModelConfig config) in new[]
        {
            ("Qwen2.5-0.5B", DecodeBench.Qwen05B), ("Qwen2.5-1.5B", DecodeBench.Qwen15B), ("Qwen2.5-7B", DecodeBench.Qwen7B), ("llama-like", LlamaLike),
        })
        {
            using var backend = CudaBackend.CreateDummy(config, scale: 0.02f);
            if (DecodeStep.WhyNot(config, backend.Layers, backend.Device) is { } why)
            {
                Report.Check($"{name}: decode_step takes the model", false, why);
                continue;
            }
            backend.GemvWide = Gemm.WideRows.All;
            foreach (int prompt in new[] { 37, 1100 })
            {
                int blocksPerSeq = (prompt + 2 * Steps) / BlockSize + 2;
                backend.AllocateKvCache(blocksPerSeq, BlockSize);
                backend.UseGraphs = false;
                backend.UsePersistentStep = false;
                var random = new Random(prompt);
                int[] ids = Enumerable.Range(0, prompt).Select(_ => random.Next(config.VocabSize)).ToArray();
                var next = new int[1];
                backend.ForwardGreedy(Decoding.Build([(0, ids, 0)], blocksPerSeq, BlockSize), next);
                var separate = new float[config.VocabSize];
                var persistent = new float[config.VocabSize];
                int differing = 0, compared = 0, agree = 0;
                double worst = 0;
                for (int step = 0; step < Steps; step++)
                {
                    ForwardBatch one = Decoding.Build([(0, [next[0]], prompt + step)], blocksPerSeq, BlockSize);
                    // eager, then graphs: a graph's first step runs eagerly, so each setting runs twice and the second is a replay
                    foreach (bool graphs in new[] { false, true })
                    {
                        backend.UseGraphs = graphs;
                        foreach (bool on in new[] { false, true })
                        {
                            backend.UsePersistentStep = on;
                            for (int run = 0; run < (graphs ? 2 : 1); run++)
                            {
                                backend.Forward(one, on ? persistent : separate); // the step rewrites its own KV slot with the same values
                            }
                        }
                        (int d, double w) = Differences(separate, persistent);
                        differing += d;
                        worst = Math.Max(worst, w);
                        compared++;
                        agree += Decoding.ArgMax(separate) == Decoding.ArgMax(persistent) ? 1 : 0;
                    }
                    next[0] = Decoding.ArgMax(separate);
                }
                if (backend.PersistentStepBuild is null)
                {
                    Report.Check($"{name}, context {prompt}: decode_step ran", false, backend.PersistentStepUnavailable ?? "it was never built");
                    continue;
                }
                Report.Check($"{name}, context {prompt}: logits bit-exact", differing == 0,
                    $"{differing} of {compared * config.VocabSize} logits differ (worst {worst:E2}); top-1 {agree}/{compared}; eager and graph replays over {Steps} steps");
            }
        }
    }

    /// <summary>
    /// Where a one-token step's time goes inside decode_step.cu: block 0's clock at each phase boundary, averaged over the
    /// layers (block 0 also attends for KV head 0, so its barrier after attention waits for the other heads).
    /// </summary>
    public static void Profile()
    {
        string[] segments = ["norm", "qkv", "sync", "attention", "sync", "o", "sync", "norm", "gate_up", "sync", "down", "sync"];
        foreach ((string name, ModelConfig config) in new[] { ("Qwen2.5-1.5B", DecodeBench.Qwen15B), ("Qwen2.5-7B", DecodeBench.Qwen7B) })
        {
            using var backend = CudaBackend.CreateDummy(config, scale: 0.02f);
            const int prompt = 128;
            int blocksPerSeq = (prompt + 16) / BlockSize + 2;
            backend.AllocateKvCache(blocksPerSeq, BlockSize);
            backend.UseGraphs = false;
            backend.UsePersistentStep = true;
            var next = new int[1];
            backend.ForwardGreedy(Decoding.Build([(0, Enumerable.Range(0, prompt).ToArray(), 0)], blocksPerSeq, BlockSize), next);
            ForwardBatch one = Decoding.Build([(0, [next[0]], prompt)], blocksPerSeq, BlockSize);
            backend.ForwardGreedy(one, next);
            if (backend.PersistentStepBuild is not { } step)
            {
                Report.Check($"{name}: decode_step profile", false, backend.PersistentStepUnavailable ?? "not built");
                continue;
            }
            int layers = config.NumLayers, events = DecodeStep.LayerEvents;
            step.RecordTiming(layers);
            var sums = new double[events];
            double lmHead = 0, totalNs = 0, totalCycles = 0;
            const int runs = 5;
            for (int run = 0; run < runs; run++)
            {
                backend.ForwardGreedy(one, next);
                ulong[] t = step.ReadTiming();
                ulong start = t[layers * events + 1], end = t[layers * events];
                totalCycles += end - start;
                totalNs += t[layers * events + 3] - t[layers * events + 2];
                for (int l = 0; l < layers; l++)
                {
                    for (int e = 0; e < events; e++)
                    {
                        ulong previous = e > 0 ? t[l * events + e - 1] : l > 0 ? t[l * events - 1] : start;
                        sums[e] += t[l * events + e] - previous;
                    }
                }
                lmHead += end - t[layers * events - 1];
            }
            double nsPerCycle = totalNs / totalCycles;
            string parts = string.Join(", ", segments.Select((s, e) => $"{s} {sums[e] * nsPerCycle / runs / layers / 1e3:F2}"));
            Report.Line($"  {name} decode_step profile (block 0, us per layer): {parts}; then final norm + lm_head {lmHead * nsPerCycle / runs / 1e3:F1} us;"
                + $" step {totalNs / runs / 1e3:F0} us ({totalCycles / totalNs:F2} GHz)");
        }
    }

    private static (int Differing, double Worst) Differences(float[] a, float[] b)
    {
        int differing = 0;
        double worst = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i]))
            {
                differing++;
                worst = Math.Max(worst, Math.Abs((double)a[i] - b[i]));
            }
        }
        return (differing, worst);
    }
}
