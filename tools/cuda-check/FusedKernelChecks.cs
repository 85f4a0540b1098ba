using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using Cpu = ReasoningServe.Inference.Backends.Cpu.Ops;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;
using static ReasoningServe.Tools.CudaCheck.DeviceArrays;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// The kernels the backend runs per layer that fuse or replace simpler ones: gemv.cu against cuBLAS and the kernels its
/// fused forms replace, qkv_finish against the chain it replaces (bias_add, qk_norm, rope, kv_write), and gqa_attention
/// (with and without context splits, GQA groups above one block's eight heads, MHA, small head dims) against the CPU
/// backend's attention.
/// </summary>
internal static unsafe class FusedKernelChecks
{
    public static void Run(CudaDevice device, CudaKernels k)
    {
        Report.Section("1b. fused kernels: qkv_finish vs the separate kernels, gqa_attention vs CPU");
        var random = new Random(4321);
        QkvFinishCheck(device, k, random, "qwen2-like (bias) 28/4 heads of 128", 28, 4, 128, bias: true, norm: false);
        QkvFinishCheck(device, k, random, "qwen3-like (qk norm) 32/8 heads of 128", 32, 8, 128, bias: false, norm: true);
        QkvFinishCheck(device, k, random, "qwen2-like (bias) 14/2 heads of 64", 14, 2, 64, bias: true, norm: false);
        QkvFinishCheck(device, k, random, "qwen3 golden shape 4/2 heads of 32 + norm", 4, 2, 32, bias: false, norm: true);

        // gemv.cu takes Gemm.MaxGemvTokens (1) token: the 7B qkv, a row count no entry point's block divides, a k of two
        // shared-memory slabs, and the logits
        GemvCheck(device, k, random, n: 4608, kIn: 3584);
        GemvCheck(device, k, random, n: 4999, kIn: 1536);
        GemvCheck(device, k, random, n: 3584, kIn: 18944);
        GemvCheck(device, k, random, n: 151936, kIn: 896, floatOutput: true);
        // gemv_wide_qkv: the 7B, 1.5B and 0.5B qkv (bias), a Llama 8B one (no bias), and a padding slot
        QkvGemvCheck(device, k, random, "7B 28/4 heads of 128", 28, 4, 128, 3584, bias: true, slot: 37);
        QkvGemvCheck(device, k, random, "1.5B 12/2 heads of 128", 12, 2, 128, 1536, bias: true, slot: 5);
        QkvGemvCheck(device, k, random, "0.5B 14/2 heads of 64", 14, 2, 64, 896, bias: true, slot: 63);
        QkvGemvCheck(device, k, random, "Llama-8B 32/8 heads of 128, no bias", 32, 8, 128, 4096, bias: false, slot: 0);
        QkvGemvCheck(device, k, random, "7B shape, padding slot -1", 28, 4, 128, 3584, bias: true, slot: -1);
        foreach ((string name, int hidden, int inter, int kvHeads) in new[] { ("1.5B", 1536, 8960, 2), ("7B", 3584, 18944, 4), ("0.5B", 896, 4864, 2), ("Llama-8B", 4096, 14336, 8) })
        {
            OGateUpCheck(device, k, random, name, hidden, inter, Gpu.OGateUp.DefaultSharedBytes, kvHeads);
        }
        OGateUpCheck(device, k, random, "1.5B, 170 KB", 1536, 8960, 170 * 1024, 2);

        (int Cached, int New)[] mixed = [(1499, 1), (50, 20), (0, 33), (300, 1)];
        foreach (int splits in new[] { 1, 4, 64 })
        {
            AttentionCheck(device, k, random, $"7B shape 28/4 heads of 128, {splits} split(s)", 28, 4, 128, mixed, splits);
        }
        AttentionCheck(device, k, random, "group of 16 (two blocks) 16/1 heads of 64, 3 splits", 16, 1, 64, mixed, 3);
        AttentionCheck(device, k, random, "MHA 8/8 heads of 128, 2 splits", 8, 8, 128, mixed, 2);
        AttentionCheck(device, k, random, "llama golden shape 4/2 heads of 16", 4, 2, 16, mixed, 5);
        AttentionCheck(device, k, random, "64 decode tokens over 1024-1087, 28/4 of 128", 28, 4, 128,
            Enumerable.Range(0, 64).Select(i => (1023 + i, 1)).ToArray(), 1);
        // The backend's mixed step: prefill chunks through prefill_attention's tiles, decode tokens through gqa_attention's list.
        AttentionCheck(device, k, random, "mixed step: prefill tiles + listed decode tokens, 28/4 of 128, 2 splits", 28, 4, 128, mixed, 2, split: true);
        AttentionCheck(device, k, random, "mixed step, 14/2 heads of 64, 3 splits", 14, 2, 64, [(0, 130), (700, 1), (64, 64), (5, 1)], 3, split: true);
    }

    /// <summary>
    /// gemv.cu's entry points against cuBLAS and the separate kernels they replace in a decode step: gemv and gemv_wide vs
    /// cublasGemmEx; gemv_rmsnorm vs add_rmsnorm then gemv (its new residual bit-exact); gemv_silu and gemv_wide_silu vs
    /// silu_mul then gemv.
    /// </summary>
    private static void GemvCheck(CudaDevice device, CudaKernels k, Random random, int n, int kIn, bool floatOutput = false)
    {
        const int tokens = Gpu.Gemm.MaxGemvTokens;
        nint s = device.Stream;
        float[] x = Random(random, tokens * kIn), w = Random(random, n * kIn, 0.05f), delta = Random(random, tokens * kIn), norm = Random(random, kIn);
        float[] gateUp = Random(random, tokens * 2 * kIn, 3f);
        int outBytes = floatOutput ? 4 : 2;
        using DeviceBuffer dx = UploadBf16(x), dw = UploadBf16(w), dd = UploadBf16(delta), dn = UploadBf16(norm), dgu = UploadBf16(gateUp),
            reference = new(outBytes * (long)tokens * n), got = new(outBytes * (long)tokens * n), normed = new(2L * tokens * kIn),
            residual = UploadBf16(x), residualOut = new(2L * tokens * kIn), act = new(2L * tokens * kIn);
        using var cublas = new Gpu.Gemm(s);
        using var gemv = new Gpu.Gemm(s, k) { UseGemv = true };
        using var wide = new Gpu.Gemm(s, k, device.MultiprocessorCount) { UseGemv = true, Wide = Gpu.Gemm.WideRows.All };
        float[] Out(DeviceBuffer b) => floatOutput ? Download<float>(b.Pointer, tokens * n) : DownloadBf16(b.Pointer, tokens * n);
        string shape = $"{tokens} x {kIn} by {n}{(floatOutput ? ", fp32 out" : "")}";

        cublas.Run(dx.Pointer, tokens, dw.Pointer, n, kIn, reference.Pointer, n, floatOutput);
        gemv.Run(dx.Pointer, tokens, dw.Pointer, n, kIn, got.Pointer, n, floatOutput);
        Report.ErrorCheck($"gemv vs cuBLAS, {shape}", Errors(Out(got), Out(reference)), floatOutput ? 1e-4 : Bf16Tolerance);
        wide.Run(dx.Pointer, tokens, dw.Pointer, n, kIn, got.Pointer, n, floatOutput);
        Report.ErrorCheck($"gemv_wide vs cuBLAS, {shape}", Errors(Out(got), Out(reference)), floatOutput ? 1e-4 : Bf16Tolerance);
        if (floatOutput)
        {
            return;
        }

        Gpu.RmsNorm.LaunchAdd(k, s, residual.Pointer, dd.Pointer, dn.Pointer, normed.Pointer, tokens, kIn, 1e-6f);
        gemv.Run(normed.Pointer, tokens, dw.Pointer, n, kIn, reference.Pointer, n);
        gemv.RunRmsNorm(dx.Pointer, dd.Pointer, dn.Pointer, 1e-6f, residualOut.Pointer, tokens, dw.Pointer, n, kIn, got.Pointer, n);
        bool residualSame = DownloadBf16(residualOut.Pointer, tokens * kIn).AsSpan().SequenceEqual(DownloadBf16(residual.Pointer, tokens * kIn));
        (double MaxAbs, double Relative) e = Errors(Out(got), Out(reference));
        Report.Check($"gemv_rmsnorm vs add_rmsnorm + gemv, {shape}", residualSame && e.Relative < Bf16Tolerance,
            $"new residual {(residualSame ? "bit-exact" : "DIFFERS")}; rel {e.Relative:E2}");

        Gpu.SiluAndMul.Launch(k, s, dgu.Pointer, act.Pointer, kIn, tokens);
        gemv.Run(act.Pointer, tokens, dw.Pointer, n, kIn, reference.Pointer, n);
        gemv.RunSilu(dgu.Pointer, tokens, dw.Pointer, n, kIn, got.Pointer, n);
        Report.ErrorCheck($"gemv_silu vs silu_mul + gemv, {shape}", Errors(Out(got), Out(reference)), 1e-3);
        wide.RunSilu(dgu.Pointer, tokens, dw.Pointer, n, kIn, got.Pointer, n);
        Report.ErrorCheck($"gemv_wide_silu vs silu_mul + gemv, {shape}", Errors(Out(got), Out(reference)), 1e-3);

        // W as a fused [gate | up] weight of n / 2 rows each: gemv_wide_gate_up against gemv_wide then silu_mul. Each row's
        // sum is taken in the same order either way, so the products should be the same bits.
        int inter = n / 2;
        using DeviceBuffer gu = new(2L * n), act1 = new(2L * inter), act2 = new(2L * inter);
        wide.Run(dx.Pointer, 1, dw.Pointer, 2 * inter, kIn, gu.Pointer, 2 * inter);
        Gpu.SiluAndMul.Launch(k, s, gu.Pointer, act1.Pointer, inter, 1);
        wide.FuseGateUp = true;
        wide.RunGateUpSilu(dx.Pointer, 1, dw.Pointer, inter, kIn, act2.Pointer);
        float[] a1 = DownloadBf16(act1.Pointer, inter), a2 = DownloadBf16(act2.Pointer, inter);
        int differing = 0;
        for (int i = 0; i < inter; i++)
        {
            differing += a1[i] != a2[i] ? 1 : 0;
        }
        Report.Check($"gemv_wide_gate_up vs gemv_wide + silu_mul, 1 x {kIn} by 2 x {inter}", differing == 0 && a2.Any(v => v != 0),
            $"{differing} of {inter} products differ (rel {Errors(a2, a1).Relative:E1})");
    }

    /// <summary>
    /// gemv.cu's gemv_wide_qkv (the projection with qkv_finish's work in its epilogue) against what it replaces: gemv_wide,
    /// then qkv_finish. Each row's sum is taken in the same order either way, so both should give the same bits; a
    /// multiply-add fused differently in RoPE could move a value by one bf16 step, which the count shows.
    /// </summary>
    private static void QkvGemvCheck(CudaDevice device, CudaKernels k, Random random, string name, int heads, int kvHeads, int d, int kIn, bool bias,
        int slot)
    {
        const int slotsTotal = 64;
        int qSize = heads * d, kvSize = kvHeads * d, n = qSize + 2 * kvSize;
        float[] x = Random(random, kIn), w = Random(random, n * kIn, 0.05f), b = Random(random, n);
        var rope = new Cpu.RotaryEmbedding(d, 1000000f, null);
        nint s = device.Stream;
        long cacheBytes = 2L * slotsTotal * kvSize;
        using DeviceBuffer dx = UploadBf16(x), dw = UploadBf16(w), db = UploadBf16(b), dp = Upload(new[] { random.Next(0, 30000) }),
            ds = Upload(new[] { slot }), df = Upload(rope.InverseFrequencies.ToArray()), q1 = new(2L * n), q2 = new(2L * n),
            k1 = new(cacheBytes), v1 = new(cacheBytes), k2 = new(cacheBytes), v2 = new(cacheBytes);
        Fill(s, 0, k1, v1, k2, v2);
        // FuseQkv set here: the opt-in run's RS_CUDA_GEMV_FUSE=norm,silu leaves it out of the backend, not out of this check
        using var wide = new Gpu.Gemm(s, k, device.MultiprocessorCount) { UseGemv = true, Wide = Gpu.Gemm.WideRows.All, FuseQkv = true };
        if (!wide.FusesQkvFinish(1, kIn, n, d))
        {
            Report.Check($"gemv_wide_qkv {name}", false, "the wide layout does not take this shape");
            return;
        }
        wide.Run(dx.Pointer, 1, dw.Pointer, n, kIn, q1.Pointer, n);
        Gpu.QkvFinish.Launch(k, s, q1.Pointer, n, bias ? db.Pointer : 0, 0, 0, 1e-6f, dp.Pointer, df.Pointer, ds.Pointer, k1.Pointer, v1.Pointer,
            1, heads, kvHeads, d);
        wide.RunQkv(dx.Pointer, dw.Pointer, kIn, q2.Pointer, bias ? db.Pointer : 0, dp.Pointer, df.Pointer, ds.Pointer, k2.Pointer, v2.Pointer,
            heads, kvHeads, d);

        QkvComparison c = CompareQkv(q1, q2, n, [k1, v1], [k2, v2], slotsTotal * kvSize);
        // with a slot, the token's k and v rows land there (a zero value is possible but rare); with -1, nothing is written
        bool cacheRight = slot >= 0 ? c.CacheWritten > 2 * kvSize * 9 / 10 : c.CacheWritten == 0;
        Report.Check($"gemv_wide_qkv {name}", c.Rows.Relative < 2e-3 && c.Cache.Relative < 2e-3 && c.Differing <= n / 100 && cacheRight,
            $"vs gemv_wide + qkv_finish: {c.Differing} of {n} values differ (rel {c.Rows.Relative:E1}), cache {c.CacheDiffering} differ "
            + $"(rel {c.Cache.Relative:E1}), {c.CacheWritten} cache values written");
    }

    /// <summary>
    /// gemv_o_gate_up.cu (o, the post-attention residual add and norm, gate_up with the SiLU, one launch with a grid barrier)
    /// against what it replaces: gemv_wide, add_rmsnorm, gemv_wide_gate_up (on the grid a step gives it: the multiprocessors
    /// less one a KV head). Each row's sum and the norm's sum of squares are
    /// taken in the same order either way, so the new residual and the products should be the same bits. Launched three
    /// times in a row on one counter, as a step's layers launch it; the inputs start over each time.
    /// </summary>
    private static void OGateUpCheck(CudaDevice device, CudaKernels k, Random random, string name, int hidden, int inter, int sharedBytes, int kvHeads)
    {
        nint s = device.Stream;
        string? why = Gpu.OGateUp.WhyNot(k, device, hidden, hidden, device.MultiprocessorCount, sharedBytes);
        if (why is not null)
        {
            Report.Check($"gemv_o_gate_up {name}", false, why);
            return;
        }
        float[] residual = Random(random, hidden, 4f);
        using DeviceBuffer attn = UploadBf16(Random(random, hidden)), wO = UploadBf16(Random(random, hidden * hidden, 0.05f)),
            norm = UploadBf16(Random(random, hidden)), wGateUp = UploadBf16(Random(random, 2 * inter * hidden, 0.05f)), delta = new(2L * hidden),
            normed = new(2L * hidden), act1 = new(2L * inter), act2 = new(2L * inter);
        using var wide = new Gpu.Gemm(s, k, device.MultiprocessorCount) { UseGemv = true, Wide = Gpu.Gemm.WideRows.All, FuseGateUp = true };
        using DeviceBuffer r1 = UploadBf16(residual);
        wide.Run(attn.Pointer, 1, wO.Pointer, hidden, hidden, delta.Pointer, hidden);
        Gpu.RmsNorm.LaunchAdd(k, s, r1.Pointer, delta.Pointer, norm.Pointer, normed.Pointer, 1, hidden, 1e-6f);
        wide.RunGateUpSilu(normed.Pointer, 1, wGateUp.Pointer, inter, hidden, act1.Pointer);
        float[] residual1 = DownloadBf16(r1.Pointer, hidden), products1 = DownloadBf16(act1.Pointer, inter);

        using Gpu.OGateUp fused = Gpu.OGateUp.Create(k, device, hidden, inter, sharedBytes, kvHeads, s);
        int residualDiffer = 0, productsDiffer = 0;
        for (int launch = 0; launch < 3; launch++)
        {
            using DeviceBuffer r2 = UploadBf16(residual);
            Fill(s, 0xFF, act2);
            fused.Launch(s, attn.Pointer, wO.Pointer, r2.Pointer, norm.Pointer, 1e-6f, wGateUp.Pointer, act2.Pointer);
            float[] residual2 = DownloadBf16(r2.Pointer, hidden), products2 = DownloadBf16(act2.Pointer, inter);
            for (int i = 0; i < hidden; i++)
            {
                residualDiffer += BitConverter.SingleToInt32Bits(residual1[i]) == BitConverter.SingleToInt32Bits(residual2[i]) ? 0 : 1;
            }
            for (int i = 0; i < inter; i++)
            {
                productsDiffer += BitConverter.SingleToInt32Bits(products1[i]) == BitConverter.SingleToInt32Bits(products2[i]) ? 0 : 1; // NaN: unwritten
            }
        }
        Report.Check($"gemv_o_gate_up {name} ({fused.Stages} stages) vs gemv_wide + add_rmsnorm + gemv_wide_gate_up",
            residualDiffer == 0 && productsDiffer == 0 && products1.Any(v => v != 0),
            $"3 launches: {residualDiffer} of {3 * hidden} residual values and {productsDiffer} of {3 * inter} products differ");
    }

    /// <summary>Two paths' qkv rows and K/V caches, value by value: the reference (1) against the one checked (2).</summary>
    private static QkvComparison CompareQkv(DeviceBuffer q1, DeviceBuffer q2, int rows, DeviceBuffer[] caches1, DeviceBuffer[] caches2, int cacheElements)
    {
        float[] r1 = DownloadBf16(q1.Pointer, rows), r2 = DownloadBf16(q2.Pointer, rows);
        float[] c1 = [.. caches1.SelectMany(c => DownloadBf16(c.Pointer, cacheElements))];
        float[] c2 = [.. caches2.SelectMany(c => DownloadBf16(c.Pointer, cacheElements))];
        int differing = 0, cacheDiffering = 0, cacheWritten = 0;
        for (int i = 0; i < rows; i++)
        {
            differing += r1[i] != r2[i] ? 1 : 0;
        }
        for (int i = 0; i < c1.Length; i++)
        {
            cacheDiffering += c1[i] != c2[i] ? 1 : 0;
            cacheWritten += c2[i] != 0 ? 1 : 0;
        }
        return new(Errors(r2, r1), Errors(c2, c1), differing, cacheDiffering, cacheWritten);
    }

    private readonly record struct QkvComparison((double MaxAbs, double Relative) Rows, (double MaxAbs, double Relative) Cache, int Differing,
        int CacheDiffering, int CacheWritten);


    private static void CudaDriverSync() => CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");

    private static void QkvFinishCheck(CudaDevice device, CudaKernels k, Random random, string name, int heads, int kvHeads, int d, bool bias, bool norm)
    {
        int tokens = 13, qSize = heads * d, kvSize = kvHeads * d, stride = qSize + 2 * kvSize, slotsTotal = 64;
        float[] qkv = Random(random, tokens * stride, 2f), b = Random(random, stride), qw = Random(random, d), kw = Random(random, d);
        int[] positions = Enumerable.Range(0, tokens).Select(_ => random.Next(0, 30000)).ToArray();
        int[] slots = Enumerable.Range(0, slotsTotal).OrderBy(_ => random.Next()).Take(tokens).ToArray();
        slots[5] = -1; // padding: computed, never written to the cache
        var rope = new Cpu.RotaryEmbedding(d, 1000000f, null);
        nint s = device.Stream;
        long cacheBytes = 2L * slotsTotal * kvSize;
        using DeviceBuffer q1 = UploadBf16(qkv), q2 = UploadBf16(qkv), db = UploadBf16(b), dqw = UploadBf16(qw), dkw = UploadBf16(kw),
            dp = Upload(positions), ds = Upload(slots), df = Upload(rope.InverseFrequencies.ToArray()),
            k1 = new(cacheBytes), v1 = new(cacheBytes), k2 = new(cacheBytes), v2 = new(cacheBytes);
        Fill(s, 0, k1, v1, k2, v2);

        if (bias)
        {
            Gpu.BiasAdd.Launch(k, s, q1.Pointer, stride, db.Pointer, stride, tokens);
        }
        if (norm)
        {
            Gpu.QkNorm.Launch(k, s, q1.Pointer, stride, dqw.Pointer, dkw.Pointer, tokens, heads, kvHeads, d, 1e-6f);
        }
        Gpu.Rope.Launch(k, s, q1.Pointer, stride, dp.Pointer, df.Pointer, tokens, heads + kvHeads, d);
        Gpu.KvCacheWrite.Launch(k, s, q1.Pointer, stride, qSize, kvSize, ds.Pointer, k1.Pointer, v1.Pointer, tokens);

        Gpu.QkvFinish.Launch(k, s, q2.Pointer, stride, bias ? db.Pointer : 0, norm ? dqw.Pointer : 0, norm ? dkw.Pointer : 0, 1e-6f,
            dp.Pointer, df.Pointer, ds.Pointer, k2.Pointer, v2.Pointer, tokens, heads, kvHeads, d);

        // The same math, but the compiler may fuse a different multiply-add (and qk-norm sums pairs in another order), so a
        // value may land one bf16 step away; beyond that the two paths must agree.
        int rows = tokens * stride;
        QkvComparison c = CompareQkv(q1, q2, rows, [k1, v1], [k2, v2], slotsTotal * kvSize);
        Report.Check($"qkv_finish {name}", c.Rows.Relative < 2e-3 && c.Cache.Relative < 2e-3,
            $"vs bias_add+qk_norm+rope+kv_write: rows rel {c.Rows.Relative:E1} ({c.Differing} of {rows} values differ), cache rel {c.Cache.Relative:E1}");
    }

    private static void AttentionCheck(CudaDevice device, CudaKernels k, Random random, string name, int heads, int kvHeads, int d,
        (int Cached, int New)[] seqs, int splits, bool split = false)
    {
        const int blockSize = 16;
        int qSize = heads * d, kvSize = kvHeads * d;
        int numBlocks = seqs.Sum(x => (x.Cached + x.New + blockSize - 1) / blockSize) + 3;
        int[] blocks = Enumerable.Range(0, numBlocks).OrderBy(_ => random.Next()).ToArray();
        int nextBlock = 0;
        var tables = new int[seqs.Length][];
        var tokenSeq = new List<int>();
        var tokenLast = new List<int>();
        for (int i = 0; i < seqs.Length; i++)
        {
            int context = seqs[i].Cached + seqs[i].New, need = (context + blockSize - 1) / blockSize;
            tables[i] = blocks[nextBlock..(nextBlock + need)];
            nextBlock += need;
            for (int p = seqs[i].Cached; p < context; p++)
            {
                tokenSeq.Add(i);
                tokenLast.Add(p);
            }
        }
        int tokens = tokenSeq.Count, slots = numBlocks * blockSize, maxBlocks = tables.Max(t => t.Length);
        float[] q = Random(random, tokens * qSize, 2f), kc = Random(random, slots * kvSize, 2f), vc = Random(random, slots * kvSize);
        int[] flatTables = new int[seqs.Length * maxBlocks];
        for (int i = 0; i < seqs.Length; i++)
        {
            tables[i].CopyTo(flatTables, i * maxBlocks);
        }
        int[] tokenContext = tokenLast.Select(p => p + 1).ToArray();
        long partialFloats = Gpu.GqaAttention.PartialFloats(tokens, heads, d, splits);
        using DeviceBuffer dq = UploadBf16(q), dk = UploadBf16(kc), dv = UploadBf16(vc), dout = new(2L * tokens * qSize),
            dtables = Upload(flatTables), dseq = Upload(tokenSeq.ToArray()), dctx = Upload(tokenContext), partials = new(Math.Max(4, 4 * partialFloats));
        if (split)
        {
            var tileFirst = new List<int>();
            var tileCount = new List<int>();
            var decode = new List<int>();
            for (int i = 0, first = 0; i < seqs.Length; first += seqs[i].New, i++)
            {
                if (seqs[i].New == 1)
                {
                    decode.Add(first);
                    continue;
                }
                for (int t = first; t < first + seqs[i].New; t += Gpu.PrefillAttention.TileTokens)
                {
                    tileFirst.Add(t);
                    tileCount.Add(Math.Min(Gpu.PrefillAttention.TileTokens, first + seqs[i].New - t));
                }
            }
            using DeviceBuffer dFirst = Upload(tileFirst.ToArray()), dCount = Upload(tileCount.ToArray()), dDecode = Upload(decode.ToArray());
            Gpu.PrefillAttention.Launch(k, device.Stream, dq.Pointer, qSize, dout.Pointer, dk.Pointer, dv.Pointer, dtables.Pointer, maxBlocks,
                dseq.Pointer, dctx.Pointer, dFirst.Pointer, dCount.Pointer, tileFirst.Count, heads, kvHeads, d, blockSize);
            Gpu.GqaAttention.Launch(k, device.Stream, dq.Pointer, qSize, dout.Pointer, partials.Pointer, dk.Pointer, dv.Pointer, dtables.Pointer,
                maxBlocks, dseq.Pointer, dctx.Pointer, tokens, heads, kvHeads, d, blockSize, splits, dDecode.Pointer, decode.Count);
            CudaDriverSync();
        }
        else
        {
            Gpu.GqaAttention.Launch(k, device.Stream, dq.Pointer, qSize, dout.Pointer, partials.Pointer, dk.Pointer, dv.Pointer, dtables.Pointer,
                maxBlocks, dseq.Pointer, dctx.Pointer, tokens, heads, kvHeads, d, blockSize, splits);
        }

        float[] expected = CpuAttention.Forward(q, kc, vc, tokens, [.. tokenSeq], [.. tokenLast], tables, heads, kvHeads, d, blockSize);
        Report.ErrorCheck($"{(split ? "prefill+gqa" : "gqa_attention")} {name} ({tokens} tok)", Errors(DownloadBf16(dout.Pointer, tokens * qSize), expected), Bf16Tolerance);
    }
}
