using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;
using static ReasoningServe.Tools.CudaCheck.DeviceArrays;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// The tensor-core prefill attention kernels (prefill_attention and prefill_attention_pipelined) against the CPU op
/// (like KernelChecks' paged_attention check), then their speed on a 7B-shaped 2048-token prefill next to
/// paged_attention and on 2048 new tokens after 14336 cached (a long prompt's last chunk).
/// </summary>
internal static unsafe class PrefillAttentionChecks
{
    private const int BlockSize = 16;

    public static void Run(CudaDevice device, CudaKernels k)
    {
        Report.Section("1b. prefill_attention (tensor cores) vs CPU PagedAttention");
        if (!k.PipelinedPrefillAttention)
        {
            Report.Check("prefill_attention_pipelined loads", false, k.PrefillAttentionPipelined.IsLoaded
                ? "the device gives a block too little shared memory" : k.PrefillAttentionPipelined.Name);
        }
        var random = new Random(4321);
        // Groups of 7 give the pipelined kernel head pairs and an odd last head; 4 only pairs; 1 (MHA) only single heads.
        Check(device, k, random, heads: 28, kvHeads: 4, d: 128);
        Check(device, k, random, heads: 14, kvHeads: 2, d: 64);
        Check(device, k, random, heads: 8, kvHeads: 2, d: 128);
        Check(device, k, random, heads: 4, kvHeads: 4, d: 64);
        Bench(device, k, random, cached: 0);
        Bench(device, k, random, cached: 14336);
    }

    /// <summary>The kernels this device runs: prefill_attention (false) and, where it loaded, prefill_attention_pipelined (true).</summary>
    private static bool[] Kernels(CudaKernels k) => k.PipelinedPrefillAttention ? [false, true] : [false];

    private static string KernelName(bool pipelined) => pipelined ? "prefill_attention_pipelined" : "prefill_attention";

    /// <summary>
    /// One batch: a fresh 300-token prefill (tiles crossing blocks, a partial last tile), a 100-token chunk after 250
    /// cached, a decode token over 77 cached, an exact 64-token tile. Shuffled block tables; q rows strided like the
    /// fused qkv buffer; the output starts as NaN with 64 spare rows, so an unwritten row or a stray write shows.
    /// </summary>
    private static void Check(CudaDevice device, CudaKernels k, Random random, int heads, int kvHeads, int d)
    {
        (int Cached, int New)[] seqs = [(0, 300), (250, 100), (77, 1), (0, 64)];
        int qSize = heads * d, kvSize = kvHeads * d, qStride = qSize + 2 * kvSize;
        int[][] tables = ShuffledTables(random, seqs.Select(x => x.Cached + x.New).ToArray(), out int numBlocks);
        long slots = (long)numBlocks * BlockSize;
        float[] cpuK = Random(random, (int)(slots * kvSize)), cpuV = Random(random, (int)(slots * kvSize));

        var tokenSeq = new List<int>();
        var tokenContext = new List<int>();
        int[] queryStart = new int[seqs.Length + 1];
        for (int s = 0; s < seqs.Length; s++)
        {
            for (int i = 0; i < seqs[s].New; i++)
            {
                tokenSeq.Add(s);
                tokenContext.Add(seqs[s].Cached + i + 1);
            }
            queryStart[s + 1] = tokenSeq.Count;
        }
        int tokens = tokenSeq.Count;
        float[] qkv = Random(random, tokens * qStride, 2f);
        float[] q = new float[tokens * qSize];
        for (int t = 0; t < tokens; t++)
        {
            Array.Copy(qkv, t * qStride, q, t * qSize, qSize);
        }

        int[] tileFirst = new int[Gpu.PrefillAttention.MaxTiles(tokens, seqs.Length)], tileCount = new int[tileFirst.Length];
        int tiles = Gpu.PrefillAttention.BuildTiles(queryStart, tileFirst, tileCount);
        bool tilesOk = tiles == 5 + 2 + 1 + 1 && tileCount[4] == 300 - 4 * 64 && tileFirst[5] == 300 && tileCount[6] == 36 && tileCount[8] == 64;
        Report.Check($"prefill tiles ({tokens} tokens, 4 seqs)", tilesOk, $"{tiles} tiles");

        int maxBlocks = tables.Max(tb => tb.Length);
        int[] flatTables = new int[seqs.Length * maxBlocks];
        for (int s = 0; s < seqs.Length; s++)
        {
            tables[s].CopyTo(flatTables, s * maxBlocks);
        }
        const int SpareRows = 64;
        using DeviceBuffer dq = UploadBf16(qkv), dk = UploadBf16(cpuK), dv = UploadBf16(cpuV), dtables = Upload(flatTables),
            dseq = Upload(tokenSeq.ToArray()), dctx = Upload(tokenContext.ToArray()), dfirst = Upload(tileFirst), dcount = Upload(tileCount),
            dout = new(2L * (tokens + SpareRows) * qSize);
        nint s0 = device.Stream;
        CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
        float[] expected = CpuAttention.Forward(q, cpuK, cpuV, tokens, [.. tokenSeq], [.. tokenContext.Select(c => c - 1)], tables, heads, kvHeads, d,
            BlockSize);
        string shape = $"d {d}, {heads}/{kvHeads} heads";
        foreach (bool pipelined in Kernels(k))
        {
            Fill(s0, 0xFF, dout);
            Gpu.PrefillAttention.Launch(k, s0, dq.Pointer, qStride, dout.Pointer, dk.Pointer, dv.Pointer, dtables.Pointer, maxBlocks,
                dseq.Pointer, dctx.Pointer, dfirst.Pointer, dcount.Pointer, tiles, heads, kvHeads, d, BlockSize, pipelined);
            float[] got = DownloadBf16(dout.Pointer, (tokens + SpareRows) * qSize);
            string name = KernelName(pipelined);
            Report.ErrorCheck($"{name} ({shape}, {tokens} tok)", Errors(got.AsSpan(0, tokens * qSize), expected), Bf16Tolerance);
            bool untouched = got.AsSpan(tokens * qSize).ToArray().All(float.IsNaN);
            Report.Check($"{name} ({shape}): no stray rows", untouched, untouched ? "rows past the last token untouched" : "wrote past the last token");
        }
    }

    /// <summary>
    /// 1 sequence of 2048 new tokens after <paramref name="cached"/> cached ones, 28/4 heads of 128 (7B-shaped): mean of
    /// 10 launches after a warm-up for each kernel (and for paged_attention on a fresh prefill); causal flops =
    /// 4 * heads * headDim * sum over tokens of the context seen. The outputs are compared too.
    /// </summary>
    private static void Bench(CudaDevice device, CudaKernels k, Random random, int cached)
    {
        const int Tokens = 2048, Heads = 28, KvHeads = 4, D = 128, Runs = 10;
        int qSize = Heads * D, kvSize = KvHeads * D;
        int[][] tables = ShuffledTables(random, [cached + Tokens], out int numBlocks);
        long slots = (long)numBlocks * BlockSize;
        int[] tokenSeq = new int[Tokens], tokenContext = Enumerable.Range(cached + 1, Tokens).ToArray();
        int[] tileFirst = new int[Gpu.PrefillAttention.MaxTiles(Tokens, 1)], tileCount = new int[tileFirst.Length];
        int tiles = Gpu.PrefillAttention.BuildTiles([0, Tokens], tileFirst, tileCount);
        using DeviceBuffer dq = UploadBf16(Random(random, Tokens * qSize, 2f)), dk = UploadBf16(Random(random, (int)(slots * kvSize))),
            dv = UploadBf16(Random(random, (int)(slots * kvSize))), dtables = Upload(tables[0]), dseq = Upload(tokenSeq),
            dctx = Upload(tokenContext), dfirst = Upload(tileFirst), dcount = Upload(tileCount),
            prefillOut = new(2L * Tokens * qSize), pipelinedOut = new(2L * Tokens * qSize), pagedOut = new(2L * Tokens * qSize);
        CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
        nint s = device.Stream;
        int maxBlocks = tables[0].Length;

        double Time(bool pipelined, DeviceBuffer output) => EventTimer.MeanMilliseconds(s, Runs, () => Gpu.PrefillAttention.Launch(k, s, dq.Pointer,
            qSize, output.Pointer, dk.Pointer, dv.Pointer, dtables.Pointer, maxBlocks, dseq.Pointer, dctx.Pointer, dfirst.Pointer, dcount.Pointer,
            tiles, Heads, KvHeads, D, BlockSize, pipelined));
        double prefillMs = Time(false, prefillOut);
        double flops = 4.0 * Heads * D * tokenContext.Sum(c => (double)c);
        string what = cached == 0 ? $"causal prefill {Tokens} tokens" : $"causal chunk of {Tokens} tokens after {cached} cached";
        Report.Line($"  {what}, {Heads}/{KvHeads} heads of {D}: {flops / 1e9:F1} GFLOP, mean of {Runs}");
        Report.Line($"    prefill_attention            {prefillMs,8:F3} ms  {flops / (prefillMs * 1e-3) / 1e12,7:F1} TFLOP/s");
        if (k.PipelinedPrefillAttention)
        {
            double pipelinedMs = Time(true, pipelinedOut);
            Report.Line($"    prefill_attention_pipelined  {pipelinedMs,8:F3} ms  {flops / (pipelinedMs * 1e-3) / 1e12,7:F1} TFLOP/s  ({prefillMs / pipelinedMs:F2}x faster)");
            Report.ErrorCheck($"pipelined vs prefill_attention ({(cached == 0 ? "2048-token prefill" : $"after {cached}")})",
                Errors(DownloadBf16(pipelinedOut.Pointer, Tokens * qSize), DownloadBf16(prefillOut.Pointer, Tokens * qSize)), Bf16Tolerance);
        }
        if (cached == 0)
        {
            // The scalar kernel over 16k contexts would take most of the section's time: only the fresh prefill.
            double pagedMs = EventTimer.MeanMilliseconds(s, Runs, () => Gpu.PagedAttention.Launch(k, s, dq.Pointer, qSize, pagedOut.Pointer, dk.Pointer,
                dv.Pointer, dtables.Pointer, maxBlocks, dseq.Pointer, dctx.Pointer, Tokens, Heads, KvHeads, D, BlockSize));
            Report.Line($"    paged_attention              {pagedMs,8:F3} ms  {flops / (pagedMs * 1e-3) / 1e12,7:F1} TFLOP/s  ({pagedMs / prefillMs:F1}x slower)");
            Report.ErrorCheck("prefill vs paged_attention (2048-token prefill)",
                Errors(DownloadBf16(prefillOut.Pointer, Tokens * qSize), DownloadBf16(pagedOut.Pointer, Tokens * qSize)), Bf16Tolerance);
        }
    }

    /// <summary>Per sequence the blocks its context needs, drawn from a shuffled pool with a few spare blocks.</summary>
    private static int[][] ShuffledTables(Random random, int[] contexts, out int numBlocks)
    {
        int[] need = contexts.Select(c => (c + BlockSize - 1) / BlockSize).ToArray();
        numBlocks = need.Sum() + 8;
        int[] blocks = Enumerable.Range(0, numBlocks).OrderBy(_ => random.Next()).ToArray();
        var tables = new int[contexts.Length][];
        for (int i = 0, next = 0; i < contexts.Length; next += need[i], i++)
        {
            tables[i] = blocks[next..(next + need[i])];
        }
        return tables;
    }
}
