using System.Diagnostics;
using ReasoningServe.Inference.Backends;
using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using ReasoningServe.Inference.Model;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;

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

    /// <summary>The bench's and the context sweep's shapes, by the name their lines print.</summary>
    private static (string Name, ModelConfig Config)[] Shapes => [("Qwen2.5-0.5B", Qwen05B), ("Qwen2.5-1.5B", Qwen15B), ("Qwen2.5-7B", Qwen7B)];

    public static void Run(int[] batches)
    {
        Report.Section($"4. decode throughput (dummy weights, bf16, {Steps} timed steps after {Warmup} warm-up; CUDA graphs vs eager launches)");
        double bandwidth = 0;
        foreach ((string name, ModelConfig config) in Shapes)
        {
            using var backend = CudaBackend.CreateDummy(config, scale: 0.02f);
            if (bandwidth == 0)
            {
                bandwidth = CopyBandwidth(backend.Device);
                Report.Line($"  device-to-device copy bandwidth: {bandwidth / 1e12:F2} TB/s (read + write)");
            }
            long streamed = StreamedBytes(backend);
            var runs = batches.Select(b => (Batch: b, Prompt)).ToList();
            if (name == "Qwen2.5-7B")
            {
                runs.Add((64, 1024));
            }
            foreach ((int batch, int prompt) in runs)
            {
                int blocksPerSeq = BlocksPerSeq(prompt);
                backend.AllocateKvCache(batch * blocksPerSeq, BlockSize);
                string line = $"  {name,-13} batch {batch,3} prompt {prompt,4}:";
                foreach (bool graphs in new[] { true, false })
                {
                    backend.UseGraphs = graphs;
                    var (seconds, context, deviceMs) = TimeDecode(backend, batch, blocksPerSeq, prompt);
                    double tokensPerSecond = batch * Steps / seconds;
                    long kvBytes = backend.KvBlockBytes(1) * context * batch;
                    double roofline = bandwidth / (streamed + kvBytes);
                    line += graphs
                        ? $" graphs {tokensPerSecond,7:F0} tok/s {seconds / Steps * 1e3,6:F2} ms/step ({Steps / seconds / roofline:P0} of {1e3 / roofline:F2} ms roofline:"
                            + $" {streamed / 1e9:F2} GB weights + {kvBytes / 1e6:F0} MB KV; device {deviceMs:F3} ms/step replayed back to back);"
                        : $" eager {tokensPerSecond,7:F0} tok/s {seconds / Steps * 1e3,6:F2} ms/step";
                }
                Report.Line(line);
                if (batch is 1 or 2 or 64)
                {
                    Profile(backend, $"{name} decode batch {batch} prompt {prompt}", batch, blocksPerSeq, prompt);
                }
            }
            backend.UseGraphs = true;
            // TTFT at both shapes issue 8 compares with transformers; cuBLAS alone on the 7B layer
            if (name != "Qwen2.5-0.5B")
            {
                PrefillTtft(backend, name, config);
            }
            if (name == "Qwen2.5-7B")
            {
                GemmThroughput(backend, config, 2048);
            }
        }
    }

    /// <summary>
    /// One-token decode of the 1.5B and 7B shapes under tools/gpu/kernel_trace (all.sh run trace): <see cref="TimeDecode"/>'s
    /// host-driven steps, then its back-to-back replays, each model after a pause that starts its segment of the trace.
    /// </summary>
    public static void TraceSteps(int[] prompts)
    {
        Report.Section("8. one-token decode steps for a kernel trace (tools/gpu/kernel_trace.py reads it)");
        foreach ((string name, ModelConfig config) in new[] { ("Qwen2.5-1.5B", Qwen15B), ("Qwen2.5-7B", Qwen7B) })
        {
            using var backend = CudaBackend.CreateDummy(config, scale: 0.02f);
            foreach (int prompt in prompts)
            {
                int blocksPerSeq = BlocksPerSeq(prompt);
                backend.AllocateKvCache(blocksPerSeq, BlockSize);
                backend.Device.Synchronize();
                Thread.Sleep(50);
                var (seconds, _, deviceMs) = TimeDecode(backend, 1, blocksPerSeq, prompt);
                Report.Line($"  {name,-13} batch 1 prompt {prompt}: {seconds / Steps * 1e3:F3} ms/step driven by the host, {deviceMs:F3} ms/step replayed back to back");
                Thread.Sleep(50);
            }
        }
    }

    /// <summary>
    /// One-token decode of the <paramref name="models"/> shapes (of 0.5B, 1.5B and 7B) over longer contexts:
    /// <paramref name="prompts"/> tokens, whose block tables round up to a graph width (by default 256 to 4096 positions;
    /// a graph per width, and decode attention's split count from that width, as in the server), host-driven and device
    /// time per step against the roofline with the K/V bytes read.
    /// </summary>
    public static void ContextSweep(int[] prompts, string[] models)
    {
        Report.Section($"9. one-token decode over longer contexts (attention splits {Gpu.DecodeAttention.MinTilesPerSplit} tiles or more each, "
            + $"from {Gpu.DecodeAttention.OneTokenSplitFromTiles} tiles, at most {Gpu.DecodeAttention.MaxDecodeSplits})");
        double bandwidth = 0;
        foreach ((string name, ModelConfig config) in Shapes.Where(m => models.Contains(m.Name["Qwen2.5-".Length..])))
        {
            using var backend = CudaBackend.CreateDummy(config, scale: 0.02f);
            if (bandwidth == 0)
            {
                bandwidth = CopyBandwidth(backend.Device);
                Report.Line($"  device-to-device copy bandwidth: {bandwidth / 1e12:F2} TB/s (read + write)");
                // which build ran: a define set for a whole batch of runs would otherwise not show in a run's line
                Report.Line($"  kernels built with: {(backend.Kernels.Defines.Count == 0 ? "(no defines)" : string.Join(' ', backend.Kernels.Defines))}");
            }
            long streamed = StreamedBytes(backend);
            foreach (int prompt in prompts)
            {
                int blocksPerSeq = BlocksPerSeq(prompt);
                backend.AllocateKvCache(blocksPerSeq, BlockSize);
                bool timeline = backend.Kernels.Defines.Contains("-DATT_TIMELINE");
                if (timeline)
                {
                    backend.AttentionPartials.EnsureCapacity(1 << 20); // one split leaves the partials unallocated; the stamps go there
                }
                var (seconds, context, deviceMs) = TimeDecode(backend, 1, blocksPerSeq, prompt);
                int width = CudaBackend.GraphWidth(blocksPerSeq) * BlockSize;
                int splits = Gpu.DecodeAttention.Splits(1, config.NumKvHeads, width, backend.Device.MultiprocessorCount);
                long kvBytes = backend.KvBlockBytes(1) * context;
                double rooflineMs = (streamed + kvBytes) / bandwidth * 1e3;
                Report.Line($"  {name,-13} prompt {prompt,4} (width {width,4}, {splits,2} split(s)): {seconds / Steps * 1e3:F3} ms/step driven by the host,"
                    + $" device {deviceMs:F3} ms/step = {rooflineMs / deviceMs:P0} of {rooflineMs:F3} ms roofline");
                ulong? layerStart = null;
                if (backend.Kernels.Global("gemv.cu", "gemv_timeline") is { } gemvTimeline)
                {
                    layerStart = PrintGemvTimeline(backend, gemvTimeline.Pointer, gemvTimeline.Bytes);
                }
                if (backend.Kernels.Global("gemv_o_gate_up.cu", "ogu_timeline") is { } oguTimeline && layerStart is { } origin)
                {
                    PrintOGateUpTimeline(backend, oguTimeline.Pointer, oguTimeline.Bytes, origin);
                }
                if (splits == 1 && timeline)
                {
                    // the kernel Ops.DecodeAttention.Launch takes for this launch: deep8's 8 warps, else 4
                    int sms = backend.Device.MultiprocessorCount;
                    bool deep8 = backend.Kernels.DeepDecodeAttention && Gpu.DecodeAttention.UsesDeep(width, splits, tokens: 1)
                        && Gpu.DecodeAttention.UsesDeep8(config.NumKvHeads * splits, sms);
                    PrintAttentionTimeline(backend, config.NumKvHeads, deep8 ? 8 : 4, layerStart);
                }
            }
        }
    }

    /// <summary>
    /// decode_attention.cuh's ATT_TIMELINE build (one split): the last layer's stamps of the last replayed step, per
    /// block and warp, in SM cycles after the warp's first stamp (entry, after the wait, first QK, tiles 1-3 done, merge
    /// start, merge data ready, end, then the output loop's first and second stores), and each warp's entry and end on
    /// the global timer (ns after block 0's entry, or after <paramref name="layerStart"/>, the layer's qkv, where the GEMV
    /// timeline is built too).
    /// </summary>
    private static void PrintAttentionTimeline(CudaBackend backend, int kvHeads, int warps, ulong? layerStart)
    {
        const int Stamps = 16;
        backend.Device.Synchronize();
        ulong[] stamps = DeviceArrays.Download<ulong>(backend.AttentionPartials.Pointer, kvHeads * warps * Stamps);
        ulong origin = layerStart ?? stamps[9];
        for (int b = 0; b < kvHeads; b++)
        {
            for (int w = 0; w < warps; w++)
            {
                int at = (b * warps + w) * Stamps;
                ulong zero = stamps[at];
                string cycles = string.Join(" ", Enumerable.Range(1, 8).Concat([11, 12]).Select(k => stamps[at + k] >= zero && stamps[at + k] - zero < 1_000_000 ? $"{stamps[at + k] - zero,6}" : "     -"));
                Report.Line($"    timeline block {b} warp {w}: cycles {cycles} | global ns entry {(long)(stamps[at + 9] - origin),6} end {(long)(stamps[at + 10] - origin),6}");
            }
        }
    }

    /// <summary>
    /// gemv.cu's GEMV_TIMELINE build: each wide GEMV's blocks in the last layer of the last replayed step, in ns after the
    /// layer's qkv projection's first block entered (so the layer's kernels line up; the down projection's are the layer's
    /// own, after its o and gate_up): when blocks entered, when their waits returned, when their first rows' products were
    /// done (x had arrived) and when they ended; first, median and last block of each. Returns that origin.
    /// </summary>
    private static ulong? PrintGemvTimeline(CudaBackend backend, ulong timeline, long bytes)
    {
        const int Slots = 5, Stamps = 8; // gemv_timeline[slot][block][stamp], unsigned long long
        int slotBlocks = (int)(bytes / (Slots * Stamps * sizeof(ulong)));
        backend.Device.Synchronize();
        ulong[] stamps = DeviceArrays.Download<ulong>(timeline, Slots * slotBlocks * Stamps);
        string[] names = ["qkv", "gate_up", "o", "down", "lm_head"];
        int[][] used = Enumerable.Range(0, Slots)
            .Select(slot => Enumerable.Range(0, slotBlocks).Where(b => stamps[(slot * slotBlocks + b) * Stamps] != 0).ToArray()).ToArray();
        if (used[0].Length == 0)
        {
            return null;
        }
        ulong origin = used[0].Min(b => stamps[b * Stamps]);
        foreach (int slot in new[] { 0, 2, 1, 3, 4 }) // the layer's order
        {
            int at = slot * slotBlocks * Stamps;
            int[] blocks = used[slot];
            if (blocks.Length == 0)
            {
                continue;
            }
            // stamp k of these blocks, first / median / last
            string Spread(IEnumerable<int> of, int k)
            {
                long[] times = of.Select(b => (long)(stamps[at + b * Stamps + k] - origin)).Order().ToArray();
                return $"{times[0],6} {times[times.Length / 2],6} {times[^1],6}";
            }
            Report.Line($"    gemv timeline {names[slot],-7} {blocks.Length,4} blocks, ns first/median/last: entry {Spread(blocks, 0)}"
                + $" | wait returned {Spread(blocks, 1)} | first products {Spread(blocks, 2)} | end {Spread(blocks, 3)}");
            // whether a block's end follows how many blocks its multiprocessor ran (stamp 4: the SM's id)
            var perSm = blocks.GroupBy(b => stamps[at + b * Stamps + 4]).ToDictionary(g => g.Key, g => g.Count());
            foreach (var group in blocks.GroupBy(b => perSm[stamps[at + b * Stamps + 4]]).OrderBy(g => g.Key))
            {
                Report.Line($"      on SMs that ran {group.Key} of its blocks: {group.Count(),4} blocks, end first/median/last {Spread(group, 3)}");
            }
        }
        return origin;
    }

    /// <summary>
    /// gemv_o_gate_up.cu's GEMV_TIMELINE build: its blocks in the last layer of the last replayed step, ns after the layer's
    /// qkv's first entry (first / median / last block of each stamp).
    /// </summary>
    private static void PrintOGateUpTimeline(CudaBackend backend, ulong timeline, long bytes, ulong origin)
    {
        const int Stamps = 16;
        int blocks = (int)(bytes / (Stamps * sizeof(ulong)));
        backend.Device.Synchronize();
        ulong[] stamps = DeviceArrays.Download<ulong>(timeline, blocks * Stamps);
        int[] used = Enumerable.Range(0, blocks).Where(b => stamps[b * Stamps] != 0).ToArray();
        if (used.Length == 0)
        {
            return;
        }
        string[] names = ["entry", "wait returned", "first o row summed", "o multiplied", "residual stored", "arrival posted",
            "past the barrier", "sum of squares", "norm weight there", "norm ready", "gate_up multiplied", "end",
            "copy after quiet", "last copy issued", "row loads arrived", "o stage there"];
        for (int k = 0; k < names.Length; k++)
        {
            // a stamp older than the block's entry is another layer's (or a build without it)
            long[] times = used.Where(b => stamps[b * Stamps + k] >= stamps[b * Stamps]).Select(b => (long)(stamps[b * Stamps + k] - origin)).Order().ToArray();
            if (times.Length > 0)
            {
                Report.Line($"    o_gate_up timeline {times.Length,4} blocks, {names[k],-18} ns first/median/last {times[0],6} {times[times.Length / 2],6} {times[^1],6}");
            }
        }
    }

    /// <summary>A warm 2048-token prefill (median of 5), then its per-op profile with attention and GEMM TFLOP/s.</summary>
    private static void PrefillTtft(CudaBackend backend, string name, ModelConfig config)
    {
        backend.AllocateKvCache(2048 / BlockSize + 2, BlockSize);
        var buffer = new int[1];
        int[] prompt = Enumerable.Range(0, 2048).Select(i => i * 7 % config.VocabSize).ToArray();
        ForwardBatch one = Single(prompt, 0, 2048 / BlockSize + 2);
        backend.ForwardGreedy(one, buffer);
        var times = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            var ttft = Stopwatch.StartNew();
            backend.ForwardGreedy(one, buffer);
            times.Add(ttft.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        Report.Line($"  {name}: prefill of 2048 tokens (TTFT, warm, median of 5) {times[2]:F1} ms");
        using (var profiler = new CudaStepProfiler())
        {
            backend.UseGraphs = false;
            backend.Profiler = profiler;
            for (int i = 0; i < 3; i++)
            {
                backend.ForwardGreedy(one, buffer);
            }
            backend.Profiler = null;
            backend.UseGraphs = true;
            double attentionFlops = 4.0 * config.NumHeads * config.HeadDim * (2048.0 * 2049 / 2) * config.NumLayers;
            double gemmFlops = 2.0 * 2048 * ((double)config.HiddenSize * (config.QSize + 2 * config.KvSize) + (double)config.QSize * config.HiddenSize
                + 3.0 * config.HiddenSize * config.IntermediateSize) * config.NumLayers;
            PrintProfile(profiler, config, 2048);
            double attentionMs = profiler.Milliseconds["attention"] / profiler.Steps;
            double gemmMs = profiler.Milliseconds.Where(kv => kv.Key.Contains("gemm", StringComparison.Ordinal) && kv.Key != "gemm lm_head").Sum(kv => kv.Value) / profiler.Steps;
            Report.Line($"    prefill 2048: attention {attentionFlops / (attentionMs / 1e3) / 1e12:F1} TFLOP/s ({attentionMs:F2} ms), "
                + $"layer GEMMs (with their norm / SiLU) {gemmFlops / (gemmMs / 1e3) / 1e12:F0} TFLOP/s ({gemmMs:F2} ms)");
        }
    }

    /// <summary>Eager decode steps with the step profiler attached: per op, milliseconds per step and (GEMMs) the weight-read bandwidth.</summary>
    private static void Profile(CudaBackend backend, string title, int batch, int blocksPerSeq, int prompt)
    {
        using var profiler = new CudaStepProfiler();
        bool graphs = backend.UseGraphs;
        backend.UseGraphs = false;
        backend.AllocateKvCache(batch * blocksPerSeq, BlockSize);
        backend.Profiler = profiler;
        TimeDecode(backend, batch, blocksPerSeq, prompt);
        backend.Profiler = null;
        backend.UseGraphs = graphs;
        Report.Line($"    profile of {title} (eager, {profiler.Steps} steps incl. prefill chunks skipped):");
        PrintProfile(profiler, backend.Config, batch);
    }

    private static void PrintProfile(CudaStepProfiler profiler, ModelConfig c, int tokens)
    {
        long layers = c.NumLayers;
        var bytes = new Dictionary<string, double>
        {
            ["norm + gemm qkv"] = 2.0 * c.HiddenSize * (c.QSize + 2 * c.KvSize) * layers,
            ["gemm o"] = 2.0 * c.QSize * c.HiddenSize * layers,
            ["norm + gemm gate_up"] = 2.0 * c.HiddenSize * 2 * c.IntermediateSize * layers,
            ["silu + gemm down"] = 2.0 * c.IntermediateSize * c.HiddenSize * layers,
            ["gemm lm_head"] = 2.0 * c.HiddenSize * c.VocabSize,
        };
        double total = profiler.Milliseconds.Values.Sum() / profiler.Steps;
        string line = $"      total {total:F3} ms:";
        foreach ((string label, double ms) in profiler.Milliseconds.OrderByDescending(kv => kv.Value))
        {
            double perStep = ms / profiler.Steps;
            line += $" {label} {perStep:F3}";
            if (bytes.TryGetValue(label, out double b) && tokens <= 64)
            {
                line += $" ({b / (perStep / 1e3) / 1e12:F2} TB/s)";
            }
            line += ";";
        }
        Report.Line(line);
    }

    /// <summary>cuBLAS alone on the 7B layer's four GEMMs for a prefill of <paramref name="tokens"/> tokens: TFLOP/s (2·T·N·K per GEMM).</summary>
    private static void GemmThroughput(CudaBackend backend, ModelConfig c, int tokens)
    {
        int qkv = c.QSize + 2 * c.KvSize;
        (string Name, int N, int K)[] shapes = [("qkv", qkv, c.HiddenSize), ("o", c.HiddenSize, c.QSize), ("gate_up", 2 * c.IntermediateSize, c.HiddenSize), ("down", c.HiddenSize, c.IntermediateSize)];
        using var gemm = new Inference.Backends.Cuda.Ops.Gemm(backend.Device.Stream);
        int maxN = shapes.Max(x => x.N), maxK = shapes.Max(x => x.K);
        using var x = new DeviceBuffer(2L * tokens * maxK);
        using var w = new DeviceBuffer(2L * maxN * maxK);
        using var y = new DeviceBuffer(2L * tokens * maxN);
        CudaDriver.Check(CudaDriver.cuMemsetD8Async(x.Pointer, 0, (nuint)(2L * tokens * maxK), backend.Device.Stream), "memset");
        CudaDriver.Check(CudaDriver.cuMemsetD8Async(w.Pointer, 0, (nuint)(2L * maxN * maxK), backend.Device.Stream), "memset");
        string line = $"  cuBLAS bf16 GEMMs at {tokens} tokens:";
        double flops = 0, ms = 0;
        foreach ((string name, int n, int k) in shapes)
        {
            double t = EventTimer.MeanMilliseconds(backend.Device.Stream, 10, () => gemm.Run(x.Pointer, tokens, w.Pointer, n, k, y.Pointer, n));
            double f = 2.0 * tokens * n * k;
            flops += f;
            ms += t;
            line += $" {name} {f / (t / 1e3) / 1e12:F0}";
        }
        Report.Line($"{line} TFLOP/s; whole layer {flops / (ms / 1e3) / 1e12:F0} TFLOP/s ({ms * c.NumLayers:F1} ms for {c.NumLayers} layers)");
    }

    /// <summary>
    /// Wall-clock seconds of the timed steps (each packs its inputs, replays or launches, and waits for the ids), the mean
    /// context, and with graphs the device's milliseconds per step: the last step's graph replayed back to back, timed with
    /// events (the difference is the host's share of a step).
    /// </summary>
    private static (double Seconds, int Context, double DeviceMs) TimeDecode(CudaBackend backend, int batch, int blocksPerSeq, int prompt)
    {
        var random = new Random(5);
        int vocab = backend.Config.VocabSize;
        var prompts = new int[batch][];
        for (int i = 0; i < batch; i++)
        {
            prompts[i] = Enumerable.Range(0, prompt).Select(_ => random.Next(vocab)).ToArray();
        }
        var ids = new int[batch];
        CudaStepProfiler? profiler = backend.Profiler;
        backend.Profiler = null;
        // Prefill in chunks of at most 2048 tokens, as the scheduler would.
        int perChunk = Math.Max(1, 2048 / prompt);
        for (int first = 0; first < batch; first += perChunk)
        {
            backend.ForwardGreedy(Batch(Enumerable.Range(first, Math.Min(perChunk, batch - first)).Select(i => (i, prompts[i], 0)).ToArray(), blocksPerSeq), ids);
        }
        int position = prompt;
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
        backend.Profiler = profiler;
        var clock = Stopwatch.StartNew();
        for (int s = Warmup; s < steps.Length; s++)
        {
            backend.ForwardGreedy(steps[s], ids);
        }
        double seconds = clock.Elapsed.TotalSeconds;
        ForwardBatch last = steps[^1];
        double deviceMs = backend.UseGraphs ? EventTimer.MeanMilliseconds(backend.Device.Stream, Steps, () => backend.TryRelaunchGraph(last)) : double.NaN;
        return (seconds, prompt + Warmup + Steps / 2, deviceMs);
    }

    /// <summary>Block-table entries a sequence of <paramref name="prompt"/> tokens needs for the warm-up and timed steps.</summary>
    private static int BlocksPerSeq(int prompt) => (prompt + Warmup + Steps + BlockSize) / BlockSize + 1;

    /// <summary>Bytes a decode step reads of the weights: every weight once, except one embedding row per token of an untied table.</summary>
    private static long StreamedBytes(CudaBackend backend)
    {
        ModelConfig c = backend.Config;
        return backend.WeightBytes - (c.TieWordEmbeddings ? 0 : 2L * c.VocabSize * c.HiddenSize);
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
