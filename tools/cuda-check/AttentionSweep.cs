using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;
using static ReasoningServe.Tools.CudaCheck.DeviceArrays;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// Where decode attention's time goes over long contexts: decode_attention.cu's plain, deep and deep8 kernels alone (no
/// combine) on one token over 4096-32768 positions (1.5B and 7B shapes) at the backend's split count and at one block an
/// SM, each also built with ATT_SWEEP_NO_MATH (the loads without the tensor-core work) and ATT_SWEEP_NO_LOADS (the other
/// way round). Run 17 found the two add up: over 32768 positions a 1.5B launch took 16.3 us, 13.0 without the math and
/// 8.5 without the loads (about 5.5 of each is the launch's own). Kernels and split counts other than the backend's must
/// agree with its output within bf16 rounding.
/// </summary>
internal static class AttentionSweep
{
    private const int BlockSize = 16, D = DecodeAttentionData.D;

    // Timed launches a configuration; tools/gpu/all.sh run ncu sets 1, so the profiler sees each kernel a few times only.
    private static readonly int Runs = int.TryParse(Environment.GetEnvironmentVariable("RS_SWEEP_RUNS"), out int runs) && runs > 0 ? runs : 20;

    private static readonly (string Label, string[] Defines)[] Builds =
    [
        ("backend", []),
        ("table/tile", ["-DATT_SWEEP_TABLE_PER_TILE"]),
        ("no math", ["-DATT_SWEEP_NO_MATH"]),
        ("no loads", ["-DATT_SWEEP_NO_LOADS"]),
    ];

    public static void Run(CudaDevice device, CudaKernels kernels)
    {
        Report.Section("1d. decode_attention builds alone over long contexts (ms a launch, K/V GB/s; no combine)");
        using var builds = new KernelBuilds(device);
        // Per build: the plain kernel (48 KB of rings), the deep rings (96 KB, 4 warps) and decode_attention_deep8 (96 KB, 8 warps).
        string[] names = ["plain", "deep", "deep8"];
        (int Threads, int SharedBytes)[] shapes = [(128, 0), (128, Gpu.DecodeAttention.DeepSharedBytes), (256, Gpu.DecodeAttention.DeepSharedBytes)];
        var loaded = Builds.Select(b => (b.Label, Kernels: names.Select(name => builds.Load("decode_attention.cu", b.Defines,
            name == "plain" ? "decode_attention" : "decode_attention_" + name)).ToArray())).ToArray();
        bool deep = device.MaxSharedBytesPerBlock >= Gpu.DecodeAttention.DeepSharedBytes;
        if (deep)
        {
            foreach (var build in loaded)
            {
                build.Kernels[1].AllowDynamicSharedBytes(Gpu.DecodeAttention.DeepSharedBytes);
                build.Kernels[2].AllowDynamicSharedBytes(Gpu.DecodeAttention.DeepSharedBytes);
            }
        }
        var random = new Random(97);
        // The 1.5B shape over 65536 positions: in its 64 splits each block streams 1024 positions, about as many as the 7B's
        // over 32768 in 33 (993), so its loads alone tell the 1.5B's cache layout (512-byte slots) from its shorter streams
        // (run 18: 2.7-2.8 TB/s for the 1.5B over 32768, about 4 for the 7B). Run 19: the same time for the same bytes, so the
        // shorter streams.
        foreach ((int tokens, int context, int heads, int kvHeads, bool shuffled) in new[]
            { (1, 32768, 12, 2, false), (1, 32768, 28, 4, false), (1, 65536, 12, 2, false), (1, 16384, 12, 2, false), (1, 16384, 28, 4, false),
                (1, 4096, 12, 2, false) })
        {
            using var data = new DecodeAttentionData(kernels, device.Stream, tokens, context, heads, kvHeads, BlockSize, shuffled ? random : null);
            using DeviceBuffer dout = new(2L * tokens * data.QSize), partials = new(4 * Gpu.GqaAttention.PartialFloats(tokens, heads, D, Gpu.DecodeAttention.MaxSplits));
            nint s = device.Stream;

            int sms = device.MultiprocessorCount;
            int splits = Gpu.DecodeAttention.Splits(tokens, kvHeads, context, sms);
            bool useDeep = deep && Gpu.DecodeAttention.UsesDeep(context, splits, tokens);
            double bytes = data.KvBytes;
            Report.Line($"  {tokens} token(s) x {context} positions, {heads}/{kvHeads} heads, blocks {(shuffled ? "shuffled" : "in order")}, "
                + $"the backend's {splits} split(s){(useDeep ? " with deep rings" : "")}: {bytes / 1e6:F0} MB of K/V, mean of {Runs}");
            // (kernel, splits): the backend's choice first, then the other deep kernel at its split count and at a block an SM.
            var configs = new List<(int Kernel, int Splits)> { (useDeep ? Gpu.DecodeAttention.UsesDeep8(tokens * kvHeads * splits, sms) ? 2 : 1 : 0, splits) };
            if (deep && context > 1024)
            {
                configs.AddRange(new[] { (1, splits), (2, splits), (1, sms / kvHeads / tokens), (2, sms / kvHeads / tokens) }.Where(c => !configs.Contains(c)));
            }
            float[]? reference = null;
            foreach ((int which, int configSplits) in configs)
            {
                string name = names[which];
                float[]? backendBuild = null;
                foreach ((string label, CudaKernel[] built) in loaded)
                {
                    CudaKernel kernel = built[which];
                    ulong seq = data.Seq0.Pointer;
                    uint sharedBytes = (uint)shapes[which].SharedBytes, threads = (uint)shapes[which].Threads;
                    void Launch() => Gpu.DecodeAttention.LaunchKernel(kernel, s, data.Q.Pointer, data.QStride, dout.Pointer, partials.Pointer, data.K.Pointer,
                        data.V.Pointer, data.Tables.Pointer, data.BlocksPerSeq, seq, data.Context.Pointer, tokens, heads, kvHeads, D, BlockSize, configSplits, 0,
                        tokens, threads, sharedBytes);
                    int run = 0;
                    double ms = EventTimer.MeanMilliseconds(s, Runs, () =>
                    {
                        seq = (run++ & 1) == 0 ? data.Seq0.Pointer : data.Seq1.Pointer;
                        Launch();
                    });
                    Report.Line($"    {name,-5} {configSplits,3} split(s) {label,-12} {ms,8:F4} ms  {bytes / (ms * 1e-3) / 1e9,6:F0} GB/s");
                    if (label is "no math" or "no loads")
                    {
                        continue;
                    }
                    // The result of copy 0, merged: a build that only finds its keys differently gives the same bits; other kernels
                    // and split counts merge in another order, within bf16 rounding of the backend's.
                    seq = data.Seq0.Pointer;
                    Launch();
                    Gpu.GqaAttention.Combine(kernels, s, partials.Pointer, dout.Pointer, tokens, heads, D, configSplits, 0, tokens);
                    float[] got = DownloadBf16(dout.Pointer, tokens * data.QSize);
                    if (backendBuild is null)
                    {
                        backendBuild = got;
                        if (reference is null)
                        {
                            reference = got;
                        }
                        else
                        {
                            Report.ErrorCheck($"{name} in {configSplits} splits vs the backend's kernel ({tokens} x {context}, {heads}/{kvHeads})", Errors(got, reference), Bf16Tolerance);
                        }
                    }
                    else
                    {
                        bool same = got.AsSpan().SequenceEqual(backendBuild);
                        Report.Check($"{name} {label} in {configSplits} splits ({tokens} x {context}, {heads}/{kvHeads})", same,
                            same ? "bit-exact with the backend's build" : "DIFFERS from the backend's build");
                    }
                }
            }
        }
    }
}
