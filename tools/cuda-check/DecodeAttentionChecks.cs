using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;
using static ReasoningServe.Tools.CudaCheck.DeviceArrays;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// The tensor-core decode attention (decode_attention.cu) against the CPU op over the shapes the backend may launch it
/// for (GQA groups of 1 to 16, head_dim 64 and 128, 1 to 64 context splits, token lists), with the output and the
/// split partials starting as NaN so an unwritten row or split shows; then its speed next to gqa_attention on a
/// 7B-shaped decode batch and on one long context, as milliseconds and the K/V bandwidth reached.
/// </summary>
internal static unsafe class DecodeAttentionChecks
{
    private const int BlockSize = 16;

    public static void Run(CudaDevice device, CudaKernels k)
    {
        Report.Section("1c. decode_attention (tensor cores) vs CPU PagedAttention, then vs gqa_attention");
        var random = new Random(2468);
        // Decode tokens seeing 1, 17, 300 and 1500 positions: one partial tile, two, many, and a long one; with 64 splits
        // most splits of the short contexts are empty.
        (int Cached, int New)[] mixed = [(0, 1), (16, 1), (299, 1), (1499, 1)];
        foreach (int splits in new[] { 1, 4, 64 })
        {
            Check(device, k, random, $"7B shape 28/4 heads of 128, {splits} split(s)", 28, 4, 128, mixed, splits);
        }
        // The long-context splits (DecodeAttention.MaxLongSplits and beyond, up to the combine's 128): 1.5B-shaped tokens
        // over 32000 and 5000 positions
        foreach (int splits in new[] { 64, 99, Gpu.DecodeAttention.MaxSplits })
        {
            Check(device, k, random, $"1.5B shape 12/2 of 128 over 32000 and 5000 positions, {splits} splits", 12, 2, 128, [(31999, 1), (4999, 1)], splits);
        }
        (int, int)[] batch = Enumerable.Range(0, 64).Select(i => (1023 + i, 1)).ToArray();
        Check(device, k, random, "64 decode tokens over 1024-1087, 28/4 of 128", 28, 4, 128, batch, 1);
        Check(device, k, random, "64 decode tokens over 1024-1087, 28/4 of 128, 2 splits", 28, 4, 128, batch, 2);
        Check(device, k, random, "head_dim 64, 14/2 heads, 3 splits", 14, 2, 64, mixed, 3);
        Check(device, k, random, "head_dim 64, 12/2 heads (1.5B-like), 1 split", 12, 2, 64, mixed, 1);
        Check(device, k, random, "MHA 8/8 heads of 128, 2 splits", 8, 8, 128, mixed, 2);
        Check(device, k, random, "group of 16: 16/1 heads of 128, 5 splits", 16, 1, 128, mixed, 5);
        Check(device, k, random, "group of 16: 16/1 heads of 64, 1 split", 16, 1, 64, mixed, 1);
        Check(device, k, random, "group of 4 (Qwen3-8B-like) 32/8 heads of 128, 2 splits", 32, 8, 128, mixed, 2);
        // Without prefill_attention the backend sends every token of a mixed step here, prefill chunks included.
        (int, int)[] chunks = [(0, 1), (40, 20), (299, 1), (0, 33)];
        Check(device, k, random, "prefill chunks and decode tokens, 28/4 of 128, 2 splits", 28, 4, 128, chunks, 2);
        Check(device, k, random, "token list (the decode tokens of a mixed step), 28/4 of 128, 3 splits", 28, 4, 128, chunks, 3, listDecodeTokens: true);
        Check(device, k, random, "token list, 14/2 heads of 64, 1 split", 14, 2, 64, [(10, 5), (700, 1), (64, 64), (5, 1)], 1, listDecodeTokens: true);
        // A warp reads its tiles' block-table entries 32 tiles ahead (one split over 5000 positions: 78 tiles a warp),
        // where a 16-key tile lies in one cache block; other block sizes read an entry per key.
        Check(device, k, random, "one split over 5000 and 1500 positions, 12/2 of 128", 12, 2, 128, [(4999, 1), (1499, 1)], 1);
        Check(device, k, random, "block size 32, 28/4 of 128, 3 splits", 28, 4, 128, mixed, 3, blockSize: 32);
        Check(device, k, random, "block size 8, 28/4 of 128, 3 splits", 28, 4, 128, mixed, 3, blockSize: 8);
        Bench(device, k, random);
    }

    /// <summary>
    /// One batch of sequences (cached, new): q rows strided like the fused qkv buffer, shuffled block tables, the output
    /// (with 8 spare rows) and the partials filled with NaN first. With <paramref name="listDecodeTokens"/> only the
    /// sequences' single new tokens are launched (a token list) and every other row must stay NaN.
    /// </summary>
    private static void Check(CudaDevice device, CudaKernels k, Random random, string name, int heads, int kvHeads, int d,
        (int Cached, int New)[] seqs, int splits, bool listDecodeTokens = false, int blockSize = BlockSize)
    {
        int qSize = heads * d, kvSize = kvHeads * d, qStride = qSize + 2 * kvSize;
        int[] need = seqs.Select(x => (x.Cached + x.New + blockSize - 1) / blockSize).ToArray();
        int numBlocks = need.Sum() + 3;
        int[] pool = Enumerable.Range(0, numBlocks).OrderBy(_ => random.Next()).ToArray();
        var tables = new int[seqs.Length][];
        var tokenSeq = new List<int>();
        var tokenLast = new List<int>();
        var decode = new List<int>();
        for (int i = 0, next = 0; i < seqs.Length; next += need[i], i++)
        {
            tables[i] = pool[next..(next + need[i])];
            if (seqs[i].New == 1)
            {
                decode.Add(tokenSeq.Count);
            }
            for (int p = seqs[i].Cached; p < seqs[i].Cached + seqs[i].New; p++)
            {
                tokenSeq.Add(i);
                tokenLast.Add(p);
            }
        }
        int tokens = tokenSeq.Count, slots = numBlocks * blockSize, maxBlocks = tables.Max(t => t.Length);
        float[] q = Random(random, tokens * qSize, 2f), kc = Random(random, slots * kvSize, 2f), vc = Random(random, slots * kvSize);
        float[] qkv = new float[tokens * qStride];
        for (int t = 0; t < tokens; t++)
        {
            Array.Copy(q, t * qSize, qkv, t * qStride, qSize);
        }
        int[] flatTables = new int[seqs.Length * maxBlocks];
        for (int i = 0; i < seqs.Length; i++)
        {
            tables[i].CopyTo(flatTables, i * maxBlocks);
        }
        const int SpareRows = 8;
        long partialFloats = Gpu.GqaAttention.PartialFloats(tokens, heads, d, splits);
        using DeviceBuffer dq = UploadBf16(qkv), dk = UploadBf16(kc), dv = UploadBf16(vc), dtables = Upload(flatTables),
            dseq = Upload(tokenSeq.ToArray()), dctx = Upload(tokenLast.Select(p => p + 1).ToArray()), dlist = Upload(decode.ToArray()),
            dout = new(2L * (tokens + SpareRows) * qSize), partials = new(Math.Max(4, 4 * partialFloats));
        nint s = device.Stream;
        CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
        // One launch from NaN outputs and partials, so an unwritten row or split shows; every row back.
        float[] Run(bool early = false, bool deep = false, int multiprocessors = 0)
        {
            Fill(s, 0xFF, dout, partials);
            Gpu.DecodeAttention.Launch(k, s, dq.Pointer, qStride, dout.Pointer, partials.Pointer, dk.Pointer, dv.Pointer, dtables.Pointer, maxBlocks,
                dseq.Pointer, dctx.Pointer, tokens, heads, kvHeads, d, blockSize, splits, listDecodeTokens ? dlist.Pointer : 0, decode.Count, early, deep,
                multiprocessors);
            return DownloadBf16(dout.Pointer, (tokens + SpareRows) * qSize);
        }
        float[] got = Run();

        float[] expected = CpuAttention.Forward(q, kc, vc, tokens, [.. tokenSeq], [.. tokenLast], tables, heads, kvHeads, d, blockSize);

        // Compare the launched rows; every other row (unlisted tokens, the spare rows) must still be NaN.
        int[] launched = listDecodeTokens ? [.. decode] : Enumerable.Range(0, tokens).ToArray();
        float[] LaunchedRows(float[] all)
        {
            float[] picked = new float[launched.Length * qSize];
            for (int i = 0; i < launched.Length; i++)
            {
                Array.Copy(all, launched[i] * qSize, picked, i * qSize, qSize);
            }
            return picked;
        }
        float[] expectedRows = LaunchedRows(expected);
        string rows = listDecodeTokens ? $"{launched.Length} of {tokens} tok listed" : $"{tokens} tok";
        void AgainstCpu(string kernel, float[] all)
        {
            bool untouched = true;
            for (int t = 0; t < tokens + SpareRows; t++)
            {
                if (Array.IndexOf(launched, t) < 0)
                {
                    untouched &= all.AsSpan(t * qSize, qSize).ToArray().All(float.IsNaN);
                }
            }
            Report.ErrorCheck($"{kernel} {name} ({rows})", Errors(LaunchedRows(all), expectedRows), Bf16Tolerance);
            Report.Check($"{kernel} {name}: no stray rows", untouched, untouched ? "rows not launched untouched" : "wrote a row it was not given");
        }
        AgainstCpu("decode_attention", got);

        // decode_attention_early (older keys requested before its wait) where the backend would take it: every token
        // launched is its sequence's one new token. Same tiles, same order of arithmetic: bit for bit the same output.
        bool earlyTaken = listDecodeTokens || seqs.All(x => x.New == 1);
        if (earlyTaken)
        {
            bool same = Run(early: true).AsSpan().SequenceEqual(got);
            Report.Check($"decode_attention_early {name}", same, same ? "bit-exact with decode_attention (stray rows untouched too)" : "DIFFERS from decode_attention");
        }

        // decode_attention_deep (and its early form where the plain early one ran): deeper rings, the same tiles in the
        // same order, so the same bits. decode_attention_deep8 (8 warps, the backend's where a deep launch has at most a
        // block an SM; here whatever the block count): the warps share the tiles and merge in another order, so against
        // the CPU.
        foreach (bool early in new[] { false, true })
        {
            if (!k.DeepDecodeAttention || (early && !earlyTaken))
            {
                continue;
            }
            bool same = Run(early, deep: true).AsSpan().SequenceEqual(got);
            string kernel = early ? "decode_attention_deep_early" : "decode_attention_deep";
            Report.Check($"{kernel} {name}", same, same ? "bit-exact with decode_attention (stray rows untouched too)" : "DIFFERS from decode_attention");
            AgainstCpu(early ? "decode_attention_deep8_early" : "decode_attention_deep8", Run(early, deep: true, multiprocessors: int.MaxValue));
        }
    }

    /// <summary>
    /// 7B shape (28/4 heads of 128): 64 decode tokens over 1024 positions each, one over 32768 (also 1.5B-shaped), and one over 128 (a
    /// single stream's short context, where a split's combine launch may cost more than it saves); one token over 512 and
    /// 2048 positions in the 7B and 1.5B (12/2) shapes, where a decode graph captured for that width splits or not
    /// (run 11's server trace: two splits and the combine from 257 positions on). Mean of 20 launches
    /// after a warm-up (combine included), for gqa_attention with its split policy and decode_attention with its own and
    /// a few other split counts, and decode_attention_deep; bandwidth = K and V bytes read (tokens x context x kvHeads x 128 x 2 bytes x 2) / time.
    /// Launches alternate between two caches of the same shape so the 50 MB L2 holds none of a launch's K/V.
    /// </summary>
    private static void Bench(CudaDevice device, CudaKernels k, Random random)
    {
        const int D = DecodeAttentionData.D, Runs = 20;
        int sms = device.MultiprocessorCount;
        foreach ((int tokens, int context, int heads, int kvHeads) in new[]
            { (64, 1024, 28, 4), (1, 32768, 28, 4), (1, 32768, 12, 2), (1, 128, 28, 4), (1, 512, 28, 4), (1, 2048, 28, 4), (1, 512, 12, 2), (1, 2048, 12, 2) })
        {
            using var data = new DecodeAttentionData(k, device.Stream, tokens, context, heads, kvHeads, BlockSize, random);
            int qSize = data.QSize, qStride = data.QStride, blocksPerSeq = data.BlocksPerSeq;
            using DeviceBuffer gqaOut = new(2L * tokens * qSize), decodeOut = new(2L * tokens * qSize),
                partials = new(4 * Gpu.GqaAttention.PartialFloats(tokens, heads, D, Gpu.GqaAttention.MaxSplits));
            nint s = device.Stream;

            double bytes = data.KvBytes;
            int gqaSplits = Gpu.GqaAttention.Splits(tokens, heads, kvHeads, context, sms);
            int decodeSplits = Gpu.DecodeAttention.Splits(tokens, kvHeads, context, sms);
            Report.Line($"  {tokens} decode token(s) x {context} positions, {heads}/{kvHeads} heads of {D}: {bytes / 1e6:F0} MB of K/V, mean of {Runs}");
            void Line(string kernel, int splits, double ms) =>
                Report.Line($"    {kernel,-17} {splits,2} split(s) {ms,8:F3} ms  {bytes / (ms * 1e-3) / 1e9,7:F0} GB/s");
            double TimeKernel(bool tensorCores, int splits, ulong output, bool deep = false)
            {
                int run = 0;
                return EventTimer.MeanMilliseconds(s, Runs, () =>
                {
                    ulong seq = (run++ & 1) == 0 ? data.Seq0.Pointer : data.Seq1.Pointer;
                    if (tensorCores)
                    {
                        Gpu.DecodeAttention.Launch(k, s, data.Q.Pointer, qStride, output, partials.Pointer, data.K.Pointer, data.V.Pointer, data.Tables.Pointer,
                            blocksPerSeq, seq, data.Context.Pointer, tokens, heads, kvHeads, D, BlockSize, splits, deep: deep);
                    }
                    else
                    {
                        Gpu.GqaAttention.Launch(k, s, data.Q.Pointer, qStride, output, partials.Pointer, data.K.Pointer, data.V.Pointer, data.Tables.Pointer,
                            blocksPerSeq, seq, data.Context.Pointer, tokens, heads, kvHeads, D, BlockSize, splits);
                    }
                });
            }

            double gqaMs = TimeKernel(false, gqaSplits, gqaOut.Pointer);
            Line("gqa_attention", gqaSplits, gqaMs);
            double decodeMs = TimeKernel(true, decodeSplits, decodeOut.Pointer);
            Line("decode_attention", decodeSplits, decodeMs);
            // Both ran 1 + Runs launches (an odd count), so both last read copy 0: the outputs must agree.
            Report.ErrorCheck($"decode vs gqa_attention ({tokens} x {context}, {heads}/{kvHeads} heads)",
                Errors(DownloadBf16(decodeOut.Pointer, tokens * qSize), DownloadBf16(gqaOut.Pointer, tokens * qSize)), Bf16Tolerance);
            Report.Line($"    decode_attention is {gqaMs / decodeMs:F1}x gqa_attention's speed; other split counts:");
            foreach (int splits in context > 4096 ? new[] { 16, 32, 48, 64 } : context > 128 ? [1, 2, 4, 8] : [1, 2])
            {
                if (splits != decodeSplits)
                {
                    Line("decode_attention", splits, TimeKernel(true, splits, decodeOut.Pointer));
                }
            }
            if (k.DeepDecodeAttention)
            {
                foreach (int splits in context > 4096 ? new[] { decodeSplits, 16, 32, 64 } : [decodeSplits])
                {
                    Line("decode_attn_deep", splits, TimeKernel(true, splits, decodeOut.Pointer, deep: true));
                }
            }
        }
    }
}
