using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;
using static ReasoningServe.Tools.CudaCheck.DeviceArrays;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// Where decode attention's time goes over long contexts: decode_attention.cu built with other macros, the kernel alone
/// (no combine), on one token over 32768 positions (1.5B and 7B shapes, the split counts the backend picks) and 64 tokens
/// over 1024. ATT_SWEEP_NO_MATH keeps the loads and drops the tensor-core work, ATT_SWEEP_NO_LOADS the other way round;
/// a build that changes how keys are found (ATT_TABLE_AHEAD) must give the same bits as the backend's.
/// </summary>
internal static unsafe class AttentionSweep
{
    private const int BlockSize = 16, D = 128, Runs = 20;

    private static readonly (string Label, string[] Defines)[] Builds =
    [
        ("backend", []),
        ("table ahead", ["-DATT_TABLE_AHEAD"]),
        ("no math", ["-DATT_SWEEP_NO_MATH"]),
        ("no loads", ["-DATT_SWEEP_NO_LOADS"]),
    ];

    public static void Run(CudaDevice device, CudaKernels kernels)
    {
        Report.Section("1d. decode_attention builds alone over long contexts (ms a launch, K/V GB/s; no combine)");
        using var builds = new KernelBuilds(device);
        var loaded = Builds.Select(b => (b.Label, Plain: builds.Load("decode_attention.cu", b.Defines, "decode_attention"),
            Deep: builds.Load("decode_attention.cu", b.Defines, "decode_attention_deep"))).ToArray();
        var combines = new[] { 16, 32, 64 }.ToDictionary(b => b, b => builds.Load("attention_combine.cu", [$"-DCOMBINE_BATCH={b}"], "attention_combine"));
        bool deep = device.MaxSharedBytesPerBlock >= Gpu.DecodeAttention.DeepSharedBytes;
        if (deep)
        {
            foreach (var build in loaded)
            {
                build.Deep.AllowDynamicSharedBytes(Gpu.DecodeAttention.DeepSharedBytes);
            }
        }
        var random = new Random(97);
        foreach ((int tokens, int context, int heads, int kvHeads, bool shuffled) in new[]
            { (1, 32768, 12, 2, false), (1, 32768, 12, 2, true), (1, 32768, 28, 4, false), (64, 1024, 28, 4, true), (1, 4096, 12, 2, false), (1, 128, 12, 2, false) })
        {
            int qSize = heads * D, kvSize = kvHeads * D, qStride = qSize + 2 * kvSize;
            int blocksPerSeq = context / BlockSize, numBlocks = 2 * tokens * blocksPerSeq;
            long slots = (long)numBlocks * BlockSize;
            // Two copies of the cache, so that the 50 MB L2 holds none of a launch's K/V; blocks in order or shuffled.
            int[] pool = shuffled ? Enumerable.Range(0, numBlocks).OrderBy(_ => random.Next()).ToArray() : Enumerable.Range(0, numBlocks).ToArray();
            using DeviceBuffer dq = new(2L * tokens * qStride), dk = new(2 * slots * kvSize), dv = new(2 * slots * kvSize),
                dtables = Upload(pool), dseq0 = Upload(Enumerable.Range(0, tokens).ToArray()), dseq1 = Upload(Enumerable.Range(tokens, tokens).ToArray()),
                dctx = Upload(Enumerable.Repeat(context, tokens).ToArray()), dout = new(2L * tokens * qSize),
                partials = new(4 * Gpu.GqaAttention.PartialFloats(tokens, heads, D, Gpu.DecodeAttention.MaxSplits));
            nint s = device.Stream;
            Gpu.FillUniform.Launch(kernels, s, dq.Pointer, (long)tokens * qStride, 1, 2f, 0f);
            Gpu.FillUniform.Launch(kernels, s, dk.Pointer, slots * kvSize, 2, 2f, 0f);
            Gpu.FillUniform.Launch(kernels, s, dv.Pointer, slots * kvSize, 3, 1f, 0f);
            CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");

            int sms = device.MultiprocessorCount;
            int splits = Gpu.DecodeAttention.Splits(tokens, kvHeads, context, sms);
            bool useDeep = deep && Gpu.DecodeAttention.UsesDeep(context, splits);
            double bytes = 2.0 * 2 * tokens * (double)context * kvSize;
            Report.Line($"  {tokens} token(s) x {context} positions, {heads}/{kvHeads} heads, blocks {(shuffled ? "shuffled" : "in order")}, "
                + $"{splits} split(s){(useDeep ? ", deep rings as the backend" : "")}: {bytes / 1e6:F0} MB of K/V, mean of {Runs}");
            (ulong partialOut, ulong partialMax, ulong partialSum) = Gpu.GqaAttention.PartialParts(partials.Pointer, tokens, heads, D, splits);
            float[]? reference = null;
            foreach ((string label, CudaKernel plain, CudaKernel deepKernel) in loaded)
            {
                CudaKernel kernel = useDeep ? deepKernel : plain;
                ulong seq = dseq0.Pointer;
                uint sharedBytes = useDeep ? (uint)Gpu.DecodeAttention.DeepSharedBytes : 0u;
                void Launch() => LaunchAlone(kernel, s, dq.Pointer, qStride, dout.Pointer, partialOut, partialMax, partialSum, dk.Pointer, dv.Pointer,
                    dtables.Pointer, blocksPerSeq, seq, dctx.Pointer, tokens, heads, kvHeads, splits, sharedBytes);
                int run = 0;
                double ms = EventTimer.MeanMilliseconds(s, Runs, () =>
                {
                    seq = (run++ & 1) == 0 ? dseq0.Pointer : dseq1.Pointer;
                    Launch();
                });
                Report.Line($"    {label,-12} {ms,8:F4} ms  {bytes / (ms * 1e-3) / 1e9,6:F0} GB/s");
                if (label is "no math" or "no loads")
                {
                    continue;
                }
                // The result of copy 0, merged: a build that only finds its keys differently gives the backend's bits.
                seq = dseq0.Pointer;
                Launch();
                Gpu.GqaAttention.Combine(kernels, s, partials.Pointer, dout.Pointer, tokens, heads, D, splits, 0, tokens);
                float[] got = DownloadBf16(dout.Pointer, tokens * qSize);
                if (reference is null)
                {
                    reference = got;
                }
                else
                {
                    bool same = got.AsSpan().SequenceEqual(reference);
                    Report.Check($"decode_attention {label} ({tokens} x {context}, {heads}/{kvHeads})", same,
                        same ? "bit-exact with the backend's build" : "DIFFERS from the backend's build");
                }
            }
            if (splits > 1)
            {
                // The combine alone, on the backend build's partials of copy 0: its batch of partial rows per round trip.
                LaunchAlone(useDeep ? loaded[0].Deep : loaded[0].Plain, s, dq.Pointer, qStride, dout.Pointer, partialOut, partialMax, partialSum,
                    dk.Pointer, dv.Pointer, dtables.Pointer, blocksPerSeq, dseq0.Pointer, dctx.Pointer, tokens, heads, kvHeads, splits,
                    useDeep ? (uint)Gpu.DecodeAttention.DeepSharedBytes : 0u);
                foreach (int batch in new[] { 16, 32, 64 })
                {
                    CudaKernel combine = combines[batch];
                    double ms = EventTimer.MeanMilliseconds(s, Runs, () => LaunchCombine(combine, s, partialOut, partialMax, partialSum, dout.Pointer, tokens, heads, splits));
                    float[] got = DownloadBf16(dout.Pointer, tokens * qSize);
                    Report.Line($"    combine, batch {batch,2} {ms,8:F4} ms");
                    bool same = got.AsSpan().SequenceEqual(reference);
                    Report.Check($"attention_combine batch {batch} ({tokens} x {context}, {heads}/{kvHeads}, {splits} splits)", same,
                        same ? "bit-exact with the backend's" : "DIFFERS from the backend's");
                }
            }
        }
    }

    private static void LaunchCombine(CudaKernel combine, nint stream, ulong partialOut, ulong partialMax, ulong partialSum, ulong output,
        int tokens, int heads, int splits)
    {
        ulong list = 0;
        int headDim = D;
        void** args = stackalloc void*[] { &partialOut, &partialMax, &partialSum, &output, &list, &heads, &headDim, &splits };
        combine.Launch(stream, (uint)tokens, (uint)heads, 128, args);
    }

    /// <summary>decode_attention.cu's arguments, as Ops.DecodeAttention passes them, for one launch without the combine.</summary>
    private static void LaunchAlone(CudaKernel kernel, nint stream, ulong q, int qStride, ulong output, ulong partialOut, ulong partialMax,
        ulong partialSum, ulong kCache, ulong vCache, ulong tables, int maxBlocks, ulong seq, ulong context, int tokens, int heads, int kvHeads,
        int splits, uint sharedBytes)
    {
        ulong list = 0;
        int headDim = D, blockSize = BlockSize;
        float scale = 1f / MathF.Sqrt(D);
        void** args = stackalloc void*[]
        {
            &q, &qStride, &output, &partialOut, &partialMax, &partialSum, &kCache, &vCache, &tables, &maxBlocks, &seq, &context, &list, &heads,
            &kvHeads, &headDim, &blockSize, &scale,
        };
        kernel.Launch(stream, (uint)tokens, (uint)kvHeads, 128, args, sharedBytes, (uint)splits);
    }
}
