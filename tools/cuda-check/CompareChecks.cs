using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// CPU (fp32) vs CUDA (bf16) on a realistic shape: head_dim 128, GQA 8:1, q/k/v bias, 4 layers, prompts of
/// 513/200/64/37 tokens batched, then 8 teacher-forced decode steps (the CPU's greedy tokens fed to both). CUDA also
/// runs with 128-token prefill chunks and with eager decode steps (no CUDA graphs) and must agree with its own run.
/// </summary>
internal static class CompareChecks
{
    public static void Run()
    {
        Report.Section("3. CPU fp32 vs CUDA bf16, dummy model (hidden 1024, 8 q / 1 kv heads of 128, 4 layers, vocab 8192)");
        foreach (bool qkNorm in new[] { false, true })
        {
            ModelConfig config = Shape(qkNorm);
            using ModelWeights weights = DummyWeights.Create(config, TensorDType.BF16, seed: 7, scale: 0.05f);
            var random = new Random(99);
            int[][] prompts = new[] { 513, 200, 64, 37 }.Select(n => Enumerable.Range(0, n).Select(_ => random.Next(config.VocabSize)).ToArray()).ToArray();
            const int steps = 8, blockSize = 16;
            int blocksPerSeq = (prompts.Max(p => p.Length) + steps + blockSize) / blockSize;

            using var cpu = new CpuBackend(config, weights, ownsWeights: false);
            cpu.AllocateKvCache(prompts.Length * blocksPerSeq, blockSize);
            Decoding.Result reference = new Decoding(cpu, blockSize, blocksPerSeq).Run(prompts, steps);

            using var cuda = CudaBackend.Create(config, weights);
            cuda.AllocateKvCache(prompts.Length * blocksPerSeq, blockSize);
            var decode = new Decoding(cuda, blockSize, blocksPerSeq);
            Decoding.Result whole = decode.Run(prompts, steps, forced: reference.Tokens);
            Decoding.Result chunked = decode.Run(prompts, steps, forced: reference.Tokens, chunk: 128);
            cuda.UseGraphs = false;
            Decoding.Result eager = decode.Run(prompts, steps, forced: reference.Tokens);

            string name = qkNorm ? "qwen3-like (qk norm)" : "qwen2-like (qkv bias)";
            (int agree, int total, double worstRelative) = CompareResults(whole, reference);
            Report.Check($"{name}: top-1 CPU vs CUDA", agree >= total * 0.9, $"{agree}/{total} steps; worst per-step logits rel err {worstRelative:E2}");
            Report.Check($"{name}: logits rel err", worstRelative < 5e-2, $"{worstRelative:E2} (bf16 activations through 4 layers)");
            // Chunks change the GEMM shapes (cuBLAS picks other kernels, other bf16 roundings) and the attention tiles (the
            // tensor-core prefill rounds its probabilities to bf16, as FlashAttention does): the top-1 must agree wherever the
            // whole run's winner leads by more than that noise, and the logits differ by less than bf16 vs fp32 do.
            (int agreeChunk, _, double chunkRelative) = CompareResults(chunked, whole);
            (int clear, int clearAgree) = ClearWinners(chunked, whole, margin: 0.05f);
            Report.Check($"{name}: 128-token chunked prefill vs whole", clearAgree == clear && chunkRelative < 2e-2,
                $"top-1 {agreeChunk}/{total} ({clearAgree}/{clear} where the lead is > 0.05); rel err {chunkRelative:E2}");
            // Eager steps split attention by the real context, graphs by their padded block-table width: the two split the
            // keys differently (other fp32 partial sums, other bf16 roundings of the output), the same noise as chunking.
            (int agreeEager, _, double eagerRelative) = CompareResults(eager, whole);
            (int clearEager, int clearEagerAgree) = ClearWinners(eager, whole, margin: 0.05f);
            Report.Check($"{name}: eager decode vs CUDA-graph replay", clearEagerAgree == clearEager && eagerRelative < 2e-2,
                $"top-1 {agreeEager}/{total} ({clearEagerAgree}/{clearEager} where the lead is > 0.05); rel err {eagerRelative:E2} (graphs pad the batch and split by it)");
        }
    }

    /// <summary>The comparison shape: head_dim 128, GQA 8:1, 4 layers; Qwen2-like (qkv bias) or Qwen3-like (q/k norm).</summary>
    private static ModelConfig Shape(bool qkNorm) => new()
    {
        Architecture = qkNorm ? "Qwen3ForCausalLM" : "Qwen2ForCausalLM",
        VocabSize = 8192,
        HiddenSize = 1024,
        IntermediateSize = 2816,
        NumLayers = 4,
        NumHeads = 8,
        NumKvHeads = 1,
        HeadDim = 128,
        RopeTheta = 1000000f,
        QkvBias = !qkNorm,
        QkNorm = qkNorm,
    };

    /// <summary>
    /// The realistic shapes, CPU fp32 vs CUDA bf16 with teacher forcing (qwen2-like, head_dim 128, GQA 8:1, 4
    /// layers): a 2000-token prompt; 64 sequences decoding together; and prefix-cache hits: sequences whose first blocks
    /// are another sequence's (their cached tokens are not recomputed), which must also match the same sequences
    /// computed whole.
    /// </summary>
    public static void RunRealistic()
    {
        Report.Section("3b. CPU fp32 vs CUDA bf16 on realistic shapes: a 2000-token prompt, 64 sequences, prefix-cache hits");
        ModelConfig config = Shape(qkNorm: false);
        using ModelWeights weights = DummyWeights.Create(config, TensorDType.BF16, seed: 11, scale: 0.05f);
        var random = new Random(123);
        int[] Prompt(int n) => Enumerable.Range(0, n).Select(_ => random.Next(config.VocabSize)).ToArray();
        const int steps = 6, blockSize = 16;
        using var cpu = new CpuBackend(config, weights, ownsWeights: false);
        using var cuda = CudaBackend.Create(config, weights);

        void Compare(string name, int[][] prompts, IReadOnlyDictionary<int, (int Source, int Blocks)>? shared = null, int[]? cached = null, int chunk = 0)
        {
            int blocksPerSeq = (prompts.Max(p => p.Length) + steps + blockSize) / blockSize;
            cpu.AllocateKvCache(prompts.Length * blocksPerSeq, blockSize);
            cuda.AllocateKvCache(prompts.Length * blocksPerSeq, blockSize);
            Decoding.Result reference = new Decoding(cpu, blockSize, blocksPerSeq, shared).Run(prompts, steps, cached: cached, chunk: chunk);
            Decoding.Result got = new Decoding(cuda, blockSize, blocksPerSeq, shared).Run(prompts, steps, forced: reference.Tokens, cached: cached, chunk: chunk);
            (int agree, int total, double worst) = CompareResults(got, reference);
            (int clear, int clearAgree) = ClearWinners(got, reference, margin: 0.05f);
            Report.Check($"{name}: CPU vs CUDA", clearAgree == clear && worst < 5e-2,
                $"top-1 {agree}/{total} ({clearAgree}/{clear} where the lead is > 0.05); worst logits rel err {worst:E2}");
        }

        Compare("one 2000-token prompt", [Prompt(2000)]);
        Compare("2000-token prompt in 512-token chunks", [Prompt(2000)], chunk: 512);
        Compare("64 sequences of 20-80 tokens", Enumerable.Range(0, 64).Select(_ => Prompt(random.Next(20, 81))).ToArray());
        Compare("5 sequences of 20-80 tokens (gemv_mma's 2-8 token steps)", Enumerable.Range(0, 5).Select(_ => Prompt(random.Next(20, 81))).ToArray());

        // Prefix hits: B and C start with A's first 256 / 128 tokens and use A's blocks for them.
        int[] a = Prompt(300);
        int[] b = [.. a[..256], .. Prompt(40)], c = [.. a[..128], .. Prompt(100)];
        var shared = new Dictionary<int, (int Source, int Blocks)> { [1] = (0, 256 / blockSize), [2] = (0, 128 / blockSize) };
        Compare("prefix hits (256 and 128 cached tokens)", [a, b, c], shared, [0, 256, 128]);

        int blocks = (300 + steps + blockSize) / blockSize;
        cuda.AllocateKvCache(3 * blocks, blockSize);
        Decoding.Result whole = new Decoding(cuda, blockSize, blocks).Run([a, b, c], steps);
        Decoding.Result hit = new Decoding(cuda, blockSize, blocks, shared).Run([a, b, c], steps, forced: whole.Tokens, cached: [0, 256, 128]);
        (int hitAgree, int hitTotal, double hitWorst) = CompareResults(hit, whole);
        (int hitClear, int hitClearAgree) = ClearWinners(hit, whole, margin: 0.05f);
        Report.Check("prefix hits vs the same prompts computed whole (CUDA)", hitClearAgree == hitClear && hitWorst < 2e-2,
            $"top-1 {hitAgree}/{hitTotal} ({hitClearAgree}/{hitClear} where the lead is > 0.05); worst logits rel err {hitWorst:E2}");
    }

    /// <summary>Steps where <paramref name="b"/>'s top logit leads the runner-up by more than <paramref name="margin"/>, and how many of them <paramref name="a"/> agrees on.</summary>
    private static (int Clear, int Agree) ClearWinners(Decoding.Result a, Decoding.Result b, float margin)
    {
        int clear = 0, agree = 0;
        for (int i = 0; i < b.Logits.Length; i++)
        {
            for (int step = 0; step < b.Logits[i].Length; step++)
            {
                float[] logits = b.Logits[i][step];
                int best = b.Tokens[i][step];
                float runnerUp = float.NegativeInfinity;
                for (int j = 0; j < logits.Length; j++)
                {
                    if (j != best)
                    {
                        runnerUp = Math.Max(runnerUp, logits[j]);
                    }
                }
                if (logits[best] - runnerUp > margin)
                {
                    clear++;
                    agree += a.Tokens[i][step] == best ? 1 : 0;
                }
            }
        }
        return (clear, agree);
    }

    private static (int Agree, int Total, double WorstRelative) CompareResults(Decoding.Result a, Decoding.Result b)
    {
        int agree = 0, total = 0;
        double worst = 0;
        for (int i = 0; i < a.Logits.Length; i++)
        {
            for (int step = 0; step < a.Logits[i].Length; step++)
            {
                total++;
                agree += a.Tokens[i][step] == b.Tokens[i][step] ? 1 : 0;
                worst = Math.Max(worst, DeviceArrays.Errors(a.Logits[i][step], b.Logits[i][step]).Relative);
            }
        }
        return (agree, total, worst);
    }
}
