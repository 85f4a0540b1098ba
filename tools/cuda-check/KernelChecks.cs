using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Model.SafeTensors;
using Cpu = ReasoningServe.Inference.Backends.Cpu.Ops;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;
using static ReasoningServe.Tools.CudaCheck.DeviceArrays;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>Each kernel against the CPU backend's op (fp32 on the same bf16-rounded inputs), fresh random inputs.</summary>
internal static unsafe class KernelChecks
{
    public static void Run(CudaDevice device, CudaKernels k)
    {
        Report.Section($"1. kernels vs CPU ops ({device.Name}, sm_{device.ComputeCapability})");
        var random = new Random(1234);
        nint s = device.Stream;

        // embedding: exact gather
        {
            int vocab = 1000, h = 1024, t = 7;
            float[] table = Random(random, vocab * h);
            int[] ids = Enumerable.Range(0, t).Select(_ => random.Next(vocab)).ToArray();
            using DeviceBuffer dt = UploadBf16(table), di = Upload(ids), dout = new(2L * t * h);
            Gpu.Embedding.Launch(k, s, dt.Pointer, di.Pointer, dout.Pointer, t, h);
            float[] expected = new float[t * h];
            for (int i = 0; i < t; i++)
            {
                Array.Copy(table, ids[i] * h, expected, i * h, h);
            }
            Report.ErrorCheck("embedding (exact)", Errors(DownloadBf16(dout.Pointer, t * h), expected), 0);
        }

        // rmsnorm and the fused residual add: rows held in registers (3584, and 8192 at the limit), rows that are not (a
        // length not a multiple of 8, a longer one)
        foreach (int n in new[] { 3584, 8192, 3581, 9000 })
        {
            int rows = 9;
            float[] x = Random(random, rows * n, 3f), w = Random(random, n), delta = Random(random, rows * n, 3f);
            using DeviceBuffer dx = UploadBf16(x), dw = UploadBf16(w), dd = UploadBf16(delta), dout = new(2L * rows * n);
            Gpu.RmsNorm.Launch(k, s, dx.Pointer, dw.Pointer, dout.Pointer, rows, n, 1e-6f);
            float[] expected = new float[rows * n];
            Cpu.RmsNorm.Forward(x, w, 1e-6f, expected);
            Report.ErrorCheck($"rmsnorm [{rows} x {n}]", Errors(DownloadBf16(dout.Pointer, rows * n), expected), Bf16Tolerance);

            Gpu.RmsNorm.LaunchAdd(k, s, dx.Pointer, dd.Pointer, dw.Pointer, dout.Pointer, rows, n, 1e-6f);
            float[] sum = new float[rows * n];
            for (int i = 0; i < sum.Length; i++)
            {
                sum[i] = RoundBf16(x[i] + delta[i]);
            }
            Cpu.RmsNorm.Forward(sum, w, 1e-6f, expected);
            Report.ErrorCheck($"add_rmsnorm [{rows} x {n}]: residual (exact)", Errors(DownloadBf16(dx.Pointer, rows * n), sum), 0);
            Report.ErrorCheck($"add_rmsnorm [{rows} x {n}]: normed", Errors(DownloadBf16(dout.Pointer, rows * n), expected), Bf16Tolerance);
        }

        // fused qkv rows: q/k norm, rope, kv write
        int heads = 8, kvHeads = 1, d = 128, tokens = 11;
        int qSize = heads * d, kvSize = kvHeads * d, stride = qSize + 2 * kvSize;
        {
            float[] qkv = Random(random, tokens * stride, 2f), qw = Random(random, d), kw = Random(random, d);
            using DeviceBuffer dq = UploadBf16(qkv), dqw = UploadBf16(qw), dkw = UploadBf16(kw);
            Gpu.QkNorm.Launch(k, s, dq.Pointer, stride, dqw.Pointer, dkw.Pointer, tokens, heads, kvHeads, d, 1e-6f);
            float[] expected = (float[])qkv.Clone();
            for (int t = 0; t < tokens; t++)
            {
                for (int head = 0; head < heads + kvHeads; head++)
                {
                    Span<float> slice = expected.AsSpan(t * stride + head * d, d);
                    Cpu.RmsNorm.Forward(slice, head < heads ? qw : kw, 1e-6f, slice);
                }
            }
            Report.ErrorCheck("qk_norm (8 q + 1 k heads of 128)", Errors(DownloadBf16(dq.Pointer, tokens * stride), expected), Bf16Tolerance);
        }
        foreach (RopeScaling? scaling in new RopeScaling?[] { null, new RopeScaling("llama3", 8f, 1f, 4f, 8192) })
        {
            float[] qkv = Random(random, tokens * stride, 2f);
            int[] positions = Enumerable.Range(0, tokens).Select(_ => random.Next(0, 32000)).ToArray();
            var rope = new Cpu.RotaryEmbedding(d, 500000f, scaling);
            using DeviceBuffer dq = UploadBf16(qkv), dp = Upload(positions), df = Upload(rope.InverseFrequencies.ToArray());
            Gpu.Rope.Launch(k, s, dq.Pointer, stride, dp.Pointer, df.Pointer, tokens, heads + kvHeads, d);
            float[] cos = new float[tokens * d / 2], sin = new float[tokens * d / 2];
            rope.ComputeCosSin(positions, cos, sin);
            float[] q = new float[tokens * qSize], kk = new float[tokens * kvSize];
            for (int t = 0; t < tokens; t++)
            {
                Array.Copy(qkv, t * stride, q, t * qSize, qSize);
                Array.Copy(qkv, t * stride + qSize, kk, t * kvSize, kvSize);
            }
            rope.Apply(q, heads, cos, sin);
            rope.Apply(kk, kvHeads, cos, sin);
            float[] got = DownloadBf16(dq.Pointer, tokens * stride);
            float[] gotQ = new float[tokens * qSize], gotK = new float[tokens * kvSize];
            for (int t = 0; t < tokens; t++)
            {
                Array.Copy(got, t * stride, gotQ, t * qSize, qSize);
                Array.Copy(got, t * stride + qSize, gotK, t * kvSize, kvSize);
            }
            string name = scaling is null ? "rope (theta 5e5, pos < 32000)" : "rope llama3 scaling";
            Report.ErrorCheck(name + ": q", Errors(gotQ, q), Bf16Tolerance);
            Report.ErrorCheck(name + ": k", Errors(gotK, kk), Bf16Tolerance);
        }

        // silu * mul (16-byte loads where n is a multiple of 8, one value at a time otherwise), bias add
        foreach (int n in new[] { 4864, 4861 })
        {
            int t = 5;
            float[] gateUp = Random(random, t * 2 * n, 4f);
            using DeviceBuffer dg = UploadBf16(gateUp), dout = new(2L * t * n);
            Gpu.SiluAndMul.Launch(k, s, dg.Pointer, dout.Pointer, n, t);
            float[] expected = new float[t * n], gate = new float[t * n], up = new float[t * n];
            for (int i = 0; i < t; i++)
            {
                Array.Copy(gateUp, i * 2 * n, gate, i * n, n);
                Array.Copy(gateUp, i * 2 * n + n, up, i * n, n);
            }
            Cpu.SiluAndMul.Forward(gate, up, expected);
            Report.ErrorCheck($"silu_mul [{t} x {n}]", Errors(DownloadBf16(dout.Pointer, t * n), expected), Bf16Tolerance);
        }
        {
            int n = 1000, t = 4, strideB = 1200;
            float[] y = Random(random, t * strideB), bias = Random(random, n);
            using DeviceBuffer dy = UploadBf16(y), db = UploadBf16(bias);
            Gpu.BiasAdd.Launch(k, s, dy.Pointer, strideB, db.Pointer, n, t);
            float[] expected = (float[])y.Clone();
            for (int i = 0; i < t; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    expected[i * strideB + j] = y[i * strideB + j] + bias[j];
                }
            }
            Report.ErrorCheck("bias_add (strided rows)", Errors(DownloadBf16(dy.Pointer, t * strideB), expected), Bf16Tolerance);
        }

        // gemv_mma (2-8 tokens on tensor cores) vs CPU Linear, where k and n are not multiples of its 32-wide chunks and
        // 16-row blocks, bf16 and fp32 outputs
        foreach ((int t, int kIn, int nOut) in new[] { (2, 40, 37), (3, 1000, 1013), (8, 1024, 3000) })
        {
            float[] x = Random(random, t * kIn), w = Random(random, nOut * kIn, 0.05f);
            float[] expected = LinearReference(x, t, w, nOut, kIn);
            using DeviceBuffer dx = UploadBf16(x), dw = UploadBf16(w), dy = new(4L * t * nOut);
            Gpu.Gemm.LaunchMma(k.GemvMma, s, Gpu.Gemm.MmaWarps, dx.Pointer, t, dw.Pointer, nOut, kIn, dy.Pointer, nOut, floatOutput: false);
            Report.ErrorCheck($"gemv_mma bf16 out [{t}x{kIn}]x[{nOut}x{kIn}]^T", Errors(DownloadBf16(dy.Pointer, t * nOut), expected), Bf16Tolerance);
            Gpu.Gemm.LaunchMma(k.GemvMma, s, Gpu.Gemm.MmaWarps, dx.Pointer, t, dw.Pointer, nOut, kIn, dy.Pointer, nOut, floatOutput: true);
            Report.ErrorCheck($"gemv_mma fp32 out [{t}x{kIn}]x[{nOut}x{kIn}]^T", Errors(Download<float>(dy.Pointer, t * nOut), expected), 1e-4);
            // a grid of 3 blocks, each looping over row blocks (RS_CUDA_MMA_WAVE's grids are that, larger)
            Gpu.Gemm.LaunchMma(k.GemvMma, s, Gpu.Gemm.MmaWarps, dx.Pointer, t, dw.Pointer, nOut, kIn, dy.Pointer, nOut, floatOutput: true, blocks: 3);
            Report.ErrorCheck($"gemv_mma fp32 out, 3 blocks [{t}x{kIn}]x[{nOut}x{kIn}]^T", Errors(Download<float>(dy.Pointer, t * nOut), expected), 1e-4);
        }

        // gemv_mma_gate_up (the SiLU·mul in the epilogue) against gemv_mma then silu_mul: each row's sum is taken in the same
        // order either way, so the products should be the same bits; intermediate sizes that are and are not multiples of 8
        foreach ((int t, int kIn, int inter) in new[] { (2, 1000, 1003), (5, 1536, 8960), (8, 3584, 2048) })
        {
            float[] x = Random(random, t * kIn), w = Random(random, 2 * inter * kIn, 0.05f);
            using DeviceBuffer dx = UploadBf16(x), dw = UploadBf16(w), gateUp = new(2L * t * 2 * inter), act1 = new(2L * t * inter),
                act2 = new(2L * t * inter);
            Gpu.Gemm.LaunchMma(k.GemvMma, s, Gpu.Gemm.MmaWarps, dx.Pointer, t, dw.Pointer, 2 * inter, kIn, gateUp.Pointer, 2 * inter, floatOutput: false);
            Gpu.SiluAndMul.Launch(k, s, gateUp.Pointer, act1.Pointer, inter, t);
            Gpu.Gemm.LaunchMmaGateUp(k.GemvMmaGateUp, s, Gpu.Gemm.MmaWarps, dx.Pointer, t, dw.Pointer, inter, kIn, act2.Pointer);
            float[] a1 = DownloadBf16(act1.Pointer, t * inter), a2 = DownloadBf16(act2.Pointer, t * inter);
            Gpu.Gemm.LaunchMmaGateUp(k.GemvMmaGateUp, s, Gpu.Gemm.MmaWarps, dx.Pointer, t, dw.Pointer, inter, kIn, act2.Pointer, blocks: 7);
            float[] a3 = DownloadBf16(act2.Pointer, t * inter);
            int differing = 0, differingLooped = 0;
            for (int i = 0; i < a1.Length; i++)
            {
                differing += a1[i] != a2[i] ? 1 : 0;
                differingLooped += a1[i] != a3[i] ? 1 : 0;
            }
            Report.Check($"gemv_mma_gate_up vs gemv_mma + silu_mul, {t} x {kIn} by 2 x {inter}", differing == 0 && differingLooped == 0 && a2.Any(v => v != 0),
                $"{differing} of {a1.Length} products differ (rel {Errors(a2, a1).Relative:E1}); on 7 looping blocks {differingLooped}");
        }

        // GEMM (cuBLAS) vs CPU Linear, bf16 and fp32 outputs
        {
            int t = 5, kIn = 1024, nOut = 3000;
            float[] x = Random(random, t * kIn), w = Random(random, nOut * kIn, 0.05f);
            float[] expected = LinearReference(x, t, w, nOut, kIn);
            using var gemm = new Gpu.Gemm(s);
            using DeviceBuffer dx = UploadBf16(x), dw = UploadBf16(w), dy = new(4L * t * nOut);
            gemm.Run(dx.Pointer, t, dw.Pointer, nOut, kIn, dy.Pointer, nOut);
            Report.ErrorCheck("gemm bf16 out [5x1024]x[3000x1024]^T", Errors(DownloadBf16(dy.Pointer, t * nOut), expected), Bf16Tolerance);
            gemm.Run(dx.Pointer, t, dw.Pointer, nOut, kIn, dy.Pointer, nOut, floatOutput: true);
            Report.ErrorCheck("gemm fp32 out", Errors(Download<float>(dy.Pointer, t * nOut), expected), 1e-4);

            // argmax over the fp32 rows just produced
            using DeviceBuffer ids = new(4L * t), scratch = new(Gpu.ArgMax.ScratchBytes(t));
            float[] logits = Download<float>(dy.Pointer, t * nOut);
            foreach (bool sliced in new[] { false, true })
            {
                Gpu.ArgMax.Launch(k, s, dy.Pointer, nOut, ids.Pointer, t, sliced ? scratch.Pointer : 0);
                int[] got = Download<int>(ids.Pointer, t);
                bool same = Enumerable.Range(0, t).All(i => got[i] == Decoding.ArgMax(logits.AsSpan(i * nOut, nOut)));
                Report.Check($"argmax{(sliced ? " sliced" : "")} (5 rows of 3000)", same, same ? "equal to host argmax" : "differs from host argmax");
            }
        }

        // argmax on vocabulary-size rows (the float4 loop with 4 loads in flight), on a length that is not a multiple of 4
        // (the scalar loop), and on a tie (the lower index wins)
        foreach (int n in new[] { 151936, 3001 })
        {
            const int rows = 3;
            float[] logits = Random(random, rows * n, 4f);
            logits[n + 100] = logits[2 * n - 5] = 10f;
            using DeviceBuffer dl = Upload(logits), ids = new(4L * rows), scratch = new(Gpu.ArgMax.ScratchBytes(rows));
            int[] expected = [.. Enumerable.Range(0, rows).Select(r => Decoding.ArgMax(logits.AsSpan(r * n, n)))];
            foreach (bool sliced in new[] { false, true })
            {
                Gpu.ArgMax.Launch(k, s, dl.Pointer, n, ids.Pointer, rows, sliced ? scratch.Pointer : 0);
                int[] got = Download<int>(ids.Pointer, rows);
                Report.Check($"argmax{(sliced ? " sliced" : "")} ({rows} rows of {n}, a tie in row 1)", got.SequenceEqual(expected),
                    $"ids {string.Join(", ", got)}, host {string.Join(", ", expected)}");
            }
        }

        AttentionCheck(device, k, random);
    }

    /// <summary>
    /// kv_write then paged attention for three sequences at once: a decode token over 300 cached positions, a prefill
    /// chunk of 20 after a 50-token cached prefix, and a fresh 33-token prefill; block tables shuffled, block size 16.
    /// </summary>
    /// <summary>The CPU backend's Linear on <paramref name="x"/> [t, kIn] and <paramref name="w"/> [nOut, kIn] rounded to bf16: the GEMM checks' reference.</summary>
    private static float[] LinearReference(float[] x, int t, float[] w, int nOut, int kIn)
    {
        ushort[] wBits = ToBf16(w);
        float[] expected = new float[t * nOut];
        var scratch = new float[Cpu.Linear.TileRows * kIn];
        fixed (ushort* wp = wBits)
        fixed (float* xp = x, yp = expected, sp = scratch)
        {
            new Cpu.Linear(new TensorView("w", TensorDType.BF16, [nOut, kIn], (nint)wp), null).ComputeRows(xp, t, yp, nOut, 0, nOut, sp);
        }
        return expected;
    }

    private static void AttentionCheck(CudaDevice device, CudaKernels k, Random random)
    {
        int heads = 8, kvHeads = 1, d = 128, blockSize = 16, numBlocks = 64;
        int qSize = heads * d, kvSize = kvHeads * d, stride = qSize + 2 * kvSize;
        (int Cached, int New)[] seqs = [(299, 1), (50, 20), (0, 33)];
        int[] blocks = Enumerable.Range(0, numBlocks).OrderBy(_ => random.Next()).ToArray();
        int nextBlock = 0;
        var tables = new int[seqs.Length][];
        for (int i = 0; i < seqs.Length; i++)
        {
            int need = (seqs[i].Cached + seqs[i].New + blockSize - 1) / blockSize;
            tables[i] = blocks[nextBlock..(nextBlock + need)];
            nextBlock += need;
        }
        // Every context position gets K/V through kv_write (the cached ones as an earlier step would have).
        var allSlots = new List<int>();
        var newTokenSeq = new List<int>();
        var newTokenLast = new List<int>();
        var newTokenIndex = new List<int>();
        for (int i = 0; i < seqs.Length; i++)
        {
            int context = seqs[i].Cached + seqs[i].New;
            for (int p = 0; p < context; p++)
            {
                if (p >= seqs[i].Cached)
                {
                    newTokenSeq.Add(i);
                    newTokenLast.Add(p);
                    newTokenIndex.Add(allSlots.Count);
                }
                allSlots.Add(tables[i][p / blockSize] * blockSize + p % blockSize);
            }
        }
        int total = allSlots.Count, tokens = newTokenSeq.Count;
        float[] qkv = Random(random, total * stride, 2f);
        long slots = (long)numBlocks * blockSize;
        using DeviceBuffer dqkv = UploadBf16(qkv), dslots = Upload(allSlots.ToArray()), kCache = new(2 * slots * kvSize), vCache = new(2 * slots * kvSize);
        nint s = device.Stream;
        Gpu.KvCacheWrite.Launch(k, s, dqkv.Pointer, stride, qSize, kvSize, dslots.Pointer, kCache.Pointer, vCache.Pointer, total);

        float[] cpuK = new float[slots * kvSize], cpuV = new float[slots * kvSize];
        for (int t = 0; t < total; t++)
        {
            Array.Copy(qkv, t * stride + qSize, cpuK, allSlots[t] * kvSize, kvSize);
            Array.Copy(qkv, t * stride + qSize + kvSize, cpuV, allSlots[t] * kvSize, kvSize);
        }
        float[] gotK = DownloadBf16(kCache.Pointer, (int)(slots * kvSize));
        bool kvSame = true;
        foreach (int slot in allSlots)
        {
            kvSame &= gotK.AsSpan(slot * kvSize, kvSize).SequenceEqual(cpuK.AsSpan(slot * kvSize, kvSize));
        }
        Report.Check("kv_write (shuffled blocks, 419 slots)", kvSame, kvSame ? "K bit-exact in every written slot" : "K differs");

        float[] q = new float[tokens * qSize];
        for (int t = 0; t < tokens; t++)
        {
            Array.Copy(qkv, newTokenIndex[t] * stride, q, t * qSize, qSize);
        }
        int maxBlocks = tables.Max(tb => tb.Length);
        int[] flatTables = new int[seqs.Length * maxBlocks];
        for (int i = 0; i < seqs.Length; i++)
        {
            tables[i].CopyTo(flatTables, i * maxBlocks);
        }
        int[] tokenContext = newTokenLast.Select(p => p + 1).ToArray();
        using DeviceBuffer dq = UploadBf16(q), dout = new(2L * tokens * qSize), dtables = Upload(flatTables),
            dseq = Upload(newTokenSeq.ToArray()), dctx = Upload(tokenContext);
        Gpu.PagedAttention.Launch(k, s, dq.Pointer, qSize, dout.Pointer, kCache.Pointer, vCache.Pointer, dtables.Pointer, maxBlocks,
            dseq.Pointer, dctx.Pointer, tokens, heads, kvHeads, d, blockSize);

        float[] expected = CpuAttention.Forward(q, cpuK, cpuV, tokens, [.. newTokenSeq], [.. newTokenLast], tables, heads, kvHeads, d, blockSize);
        Report.ErrorCheck($"paged_attention (decode + prefix chunk + prefill, {tokens} tok)", Errors(DownloadBf16(dout.Pointer, tokens * qSize), expected), Bf16Tolerance);
    }
}
