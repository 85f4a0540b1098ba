using System.Diagnostics;
using ReasoningServe.Inference.Backends;
using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using ReasoningServe.Inference.Model;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// Decode throughput with dummy weights drawn on the device, greedy on the GPU (ForwardGreedy: one id per sequence back
/// to the host). Roofline for batch 1: (weight bytes + KV bytes read) / the device-to-device copy bandwidth measured here.
/// </summary>
internal static unsafe class DecodeBench
{
    private const int Prompt = 128, Warmup = 3, Steps = 48, BlockSize = 16;

    public static ModelConfig Qwen05B => CpuDecodeBenchmark.Qwen25HalfBillion;

    public static ModelConfig Qwen15B => Qwen05B with { HiddenSize = 1536, IntermediateSize = 8960, NumLayers = 28, NumHeads = 12, HeadDim = 128 };

    public static ModelConfig Qwen7B => new()
    {
        Architecture = "Qwen2ForCausalLM",
        VocabSize = 152064,
        HiddenSize = 3584,
        IntermediateSize = 18944,
        NumLayers = 28,
        NumHeads = 28,
        NumKvHeads = 4,
        HeadDim = 128,
        RopeTheta = 1000000f,
        QkvBias = true,
        TieWordEmbeddings = false,
    };

    public static void Run(int[] batches)
    {
        Report.Section($"4. decode throughput (dummy weights, bf16, prompt {Prompt}, {Steps} timed steps after {Warmup} warm-up)");
        double bandwidth = 0;
        foreach ((string name, ModelConfig config) in new[] { ("Qwen2.5-0.5B", Qwen05B), ("Qwen2.5-1.5B", Qwen15B), ("Qwen2.5-7B", Qwen7B) })
        {
            using var backend = CudaBackend.CreateDummy(config, scale: 0.02f);
            if (bandwidth == 0)
            {
                bandwidth = CopyBandwidth(backend.Device);
                Report.Line($"  device-to-device copy bandwidth: {bandwidth / 1e12:F2} TB/s (read + write)");
            }
            // Per decode step every weight is read once except the embedding table (one row per token).
            long streamed = backend.WeightBytes - (config.TieWordEmbeddings ? 0 : 2L * config.VocabSize * config.HiddenSize);
            int maxBatch = batches.Max();
            int blocksPerSeq = (Prompt + Warmup + Steps + BlockSize) / BlockSize + 1;
            backend.AllocateKvCache(maxBatch * blocksPerSeq, BlockSize);
            foreach (int batch in batches)
            {
                var (seconds, context) = TimeDecode(backend, batch, blocksPerSeq);
                double tokensPerSecond = batch * Steps / seconds;
                long kvBytes = backend.KvBlockBytes(1) * context * batch;
                double roofline = bandwidth / (streamed + kvBytes);
                Report.Line($"  {name,-13} batch {batch,3}: {tokensPerSecond,9:F0} tok/s  {seconds / Steps * 1e3,7:F2} ms/step  "
                    + $"roofline {roofline:F0} steps/s ({streamed / 1e9:F2} GB weights + {kvBytes / 1e6:F0} MB KV per step): {Steps / seconds / roofline:P0}");
            }
            if (name == "Qwen2.5-7B")
            {
                backend.AllocateKvCache(2048 / BlockSize + 2, BlockSize);
                var buffer = new int[1];
                int[] prompt = Enumerable.Range(0, 2048).Select(i => i * 7 % config.VocabSize).ToArray();
                ForwardBatch one = Single(prompt, 0, 2048 / BlockSize + 2);
                backend.ForwardGreedy(one, buffer);
                var ttft = Stopwatch.StartNew();
                backend.ForwardGreedy(one, buffer);
                Report.Line($"  {name}: prefill of 2048 tokens (TTFT, warm) {ttft.Elapsed.TotalMilliseconds:F1} ms");
            }
        }
    }

    private static (double Seconds, int Context) TimeDecode(CudaBackend backend, int batch, int blocksPerSeq)
    {
        var random = new Random(5);
        int vocab = backend.Config.VocabSize;
        var prompts = new int[batch][];
        for (int i = 0; i < batch; i++)
        {
            prompts[i] = Enumerable.Range(0, Prompt).Select(_ => random.Next(vocab)).ToArray();
        }
        var ids = new int[batch];
        backend.ForwardGreedy(Batch(prompts.Select((p, i) => (i, p, 0)).ToArray(), blocksPerSeq), ids);
        int position = Prompt;
        // Step batches are built ahead so the timed loop measures the backend, not this harness.
        var steps = new ForwardBatch[Warmup + Steps];
        for (int s = 0; s < steps.Length; s++)
        {
            steps[s] = Batch(Enumerable.Range(0, batch).Select(i => (i, new[] { (i * 31 + s) % vocab }, position + s)).ToArray(), blocksPerSeq);
        }
        for (int s = 0; s < Warmup; s++)
        {
            backend.ForwardGreedy(steps[s], ids);
        }
        var clock = Stopwatch.StartNew();
        for (int s = Warmup; s < steps.Length; s++)
        {
            backend.ForwardGreedy(steps[s], ids);
        }
        return (clock.Elapsed.TotalSeconds, Prompt + Warmup + Steps / 2);
    }

    private static ForwardBatch Single(int[] tokens, int seq, int blocks) => Batch([(seq, tokens, 0)], blocks);

    private static ForwardBatch Batch((int Seq, int[] New, int Cached)[] parts, int blocksPerSeq) =>
        Decoding.Build(parts, blocksPerSeq, BlockSize);

    /// <summary>Bytes read + written per second by a 1 GiB device-to-device copy, median of 10, timed with events.</summary>
    private static double CopyBandwidth(CudaDevice device)
    {
        const long bytes = 1L << 30;
        using var a = new DeviceBuffer(bytes);
        using var b = new DeviceBuffer(bytes);
        nint start, end;
        CudaDriver.Check(CudaDriver.cuEventCreate(&start, 0), "cuEventCreate");
        CudaDriver.Check(CudaDriver.cuEventCreate(&end, 0), "cuEventCreate");
        var times = new List<float>();
        for (int i = 0; i < 12; i++)
        {
            CudaDriver.Check(CudaDriver.cuEventRecord(start, device.Stream), "cuEventRecord");
            CudaDriver.Check(CudaDriver.cuMemcpyDtoDAsync(b.Pointer, a.Pointer, (nuint)bytes, device.Stream), "cuMemcpyDtoDAsync");
            CudaDriver.Check(CudaDriver.cuEventRecord(end, device.Stream), "cuEventRecord");
            CudaDriver.Check(CudaDriver.cuEventSynchronize(end), "cuEventSynchronize");
            float ms;
            CudaDriver.Check(CudaDriver.cuEventElapsedTime(&ms, start, end), "cuEventElapsedTime");
            if (i >= 2)
            {
                times.Add(ms);
            }
        }
        CudaDriver.cuEventDestroy(start);
        CudaDriver.cuEventDestroy(end);
        times.Sort();
        return 2.0 * bytes / (times[times.Count / 2] / 1e3);
    }
}
