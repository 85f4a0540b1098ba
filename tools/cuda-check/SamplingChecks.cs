using ReasoningServe.Inference.Backends;
using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Engine;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;
using static ReasoningServe.Tools.CudaCheck.DeviceArrays;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// sample.cu against the engine's sampling rules, computed here in double with a full sort: greedy and top-k 1 give the
/// argmax; over many seeds, every draw lies in the set the rules keep and the draws' frequencies match the kept
/// probabilities (total variation distance within what sampling noise alone gives); raw-logit logprobs, rank and top-n
/// match log_softmax.
/// </summary>
internal static unsafe class SamplingChecks
{
    public static void Run(CudaDevice device, CudaKernels k)
    {
        Report.Section("5. sampling on the GPU (sample.cu) vs the sampler's rules");
        var random = new Random(77);
        const int vocab = 1000, draws = 20000;
        float[] logits = Enumerable.Range(0, vocab).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
        const int argmax = 17, tied = 400;
        logits[argmax] = logits[tied] = logits.Max() + 0.5f; // a tie for the maximum: the lower index wins
        foreach ((float t, float topP, int topK, float minP) in new[] { (1f, 1f, 0, 0f), (0.7f, 0.9f, 0, 0f), (1f, 1f, 50, 0f), (0.6f, 0.95f, 20, 0f), (1.3f, 1f, 0, 0.1f), (0.8f, 0.8f, 40, 0.05f) })
        {
            FrequencyCheck(device, k, logits, draws, t, topP, topK, minP, "");
        }
        // Rows longer than sample.cu's 1024 candidates: a peaked one (30 tokens far ahead, as a reasoning model's next token
        // usually is), whose nucleus the gathered candidates hold, also under a top-k above 1024; and a flat one, whose
        // nucleus does not fit, so the search runs over the whole row.
        const int longVocab = 8000, longDraws = 10000;
        float[] peaked = Enumerable.Range(0, longVocab).Select(i => (float)(random.NextDouble() * 4 - 2) + (i % 267 == 5 ? 9f : 0f)).ToArray();
        float[] flat = Enumerable.Range(0, longVocab).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        foreach ((float[] longRow, string shape, float t, float topP, int topK) in new[]
        {
            (peaked, "peaked", 0.6f, 0.95f, 0), (peaked, "peaked", 0.6f, 0.95f, 20), (peaked, "peaked", 1f, 0.9f, 2000), (peaked, "peaked", 1.5f, 0.99f, 0),
            (flat, "flat", 1f, 0.95f, 0), (flat, "flat", 1f, 0.5f, 1500),
        })
        {
            FrequencyCheck(device, k, longRow, longDraws, t, topP, topK, 0f, $" ({shape} row of {longVocab})");
        }
        // the whole-row nucleus with min-p's zeroes in the row (a third of the flat row's p are under 0.3)
        FrequencyCheck(device, k, flat, longDraws, 1f, 0.9f, 0, 0.3f, $" (flat row of {longVocab}, min-p 0.3)");
        // the sliced path's top-p alone (its own nucleus search, over what the slices keep, or the whole-row path where the
        // nucleus reaches below it: the flat row, the hot peaked one)
        foreach ((float[] longRow, string shape, float t, float topP) in new[] { (peaked, "peaked", 0.6f, 0.95f), (peaked, "peaked", 1.5f, 0.99f), (flat, "flat", 1f, 0.95f) })
        {
            FrequencyCheck(device, k, longRow, longDraws, t, topP, 0, 0f, $" ({shape} row of {longVocab}, sliced)", sliced: true);
        }

        int[] greedy = Draw(device, k, logits, [new(0f, 1f, 0, 0f, 1, -1), new(1e-6f, 0.5f, 5, 0f, 3, -1)]);
        Report.Check("sample: T=0 and T<1e-5 give the first argmax", greedy.All(g => g == argmax), $"tokens {string.Join(", ", greedy)} (argmax {argmax})");
        // 64 seeded draws; how many went to each of the tied maxima and how many elsewhere
        (int[] Draws, string Counts) DrawTied(float topP, int topK, ulong seeds)
        {
            int[] d = Draw(device, k, logits, Enumerable.Range(0, 64).Select(i => new BackendSamplingParams(0.7f, topP, topK, 0f, Mix((ulong)i + seeds), -1)).ToArray());
            return (d, $"{d.Count(g => g == argmax)} x {argmax}, {d.Count(g => g == tied)} x {tied}, {d.Count(g => g is not (argmax or tied))} others of 64");
        }
        // a top_p whose mass rounds to 0 (the request's (0, 1] allows 1e-50, which is 0 as a float) still keeps the maxima
        (int[] tinyP, string tinyCounts) = DrawTied(topP: 0f, topK: 0, seeds: 100);
        Report.Check("sample: top_p 0 draws only the tied maxima", tinyP.All(g => g is argmax or tied), tinyCounts);
        // top_k=1 keeps every token equal to the largest, as the CPU sampler's threshold (and vLLM's) does: a draw among the tie
        (int[] topOne, string topOneCounts) = DrawTied(topP: 1f, topK: 1, seeds: 0);
        Report.Check("sample: top_k=1 draws only the tied maxima", topOne.All(g => g is argmax or tied) && topOne.Contains(argmax) && topOne.Contains(tied),
            topOneCounts);

        // logprobs on a real-size row
        const int big = 151936;
        float[] row = Enumerable.Range(0, big).Select(_ => (float)(random.NextDouble() * 20 - 10)).ToArray();
        var (ids, results) = DrawFull(device, k, row, [new(0.9f, 0.95f, 0, 0f, 12345, 5), new(0f, 1f, 0, 0f, 0, 20)]);
        double max = row.Max(), sum = row.Sum(x => Math.Exp(x - max)), lse = max + Math.Log(sum);
        int[] order = Enumerable.Range(0, big).OrderByDescending(i => row[i]).ThenBy(i => i).ToArray();
        bool ok = true;
        double worst = 0;
        for (int r = 0; r < 2; r++)
        {
            int token = ids.Tokens[r], n = r == 0 ? 5 : 20;
            worst = Math.Max(worst, Math.Abs(ids.Logprobs[r] - (row[token] - lse)));
            ok &= ids.Ranks[r] == 1 + row.Count(x => x > row[token]);
            for (int j = 0; j < n; j++)
            {
                ok &= ids.TopIds[r * BackendSamples.MaxTopLogprobs + j] == order[j];
                worst = Math.Max(worst, Math.Abs(ids.TopLogprobs[r * BackendSamples.MaxTopLogprobs + j] - (row[order[j]] - lse)));
            }
        }
        ok &= ids.Tokens[1] == order[0];
        Report.Check("sample: logprobs, rank and top-5/top-20 of a 151936-token row", ok && worst < 1e-4,
            $"ids and ranks {(ok ? "equal" : "DIFFER")}; worst logprob error {worst:E2}");

        SlicedChecks(device, k, random, logits, peaked, flat, row, seeds: 64, timed: true);

        // a vocabulary that is a multiple of 4 (logit_adjust copies rows as float4) and one that is not
        AdjustmentChecks(device, k, random, vocab: 5000);
        AdjustmentChecks(device, k, random, vocab: 4999);
    }

    /// <summary>The sliced path's checks alone, 4 seeds a configuration: short enough for compute-sanitizer's racecheck.</summary>
    public static void RunSliced(CudaDevice device, CudaKernels k)
    {
        Report.Section("5b. sample.cu's sliced path vs its whole-row path");
        var random = new Random(78);
        float[] small = Enumerable.Range(0, 1000).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
        float[] peaked = Enumerable.Range(0, 8000).Select(i => (float)(random.NextDouble() * 4 - 2) + (i % 267 == 5 ? 9f : 0f)).ToArray();
        float[] flat = Enumerable.Range(0, 8000).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] big = Enumerable.Range(0, 151936).Select(_ => (float)(random.NextDouble() * 20 - 10)).ToArray();
        // not timed: under racecheck a launch of the whole-row kernel takes ~0.1-0.4 s
        SlicedChecks(device, k, random, small, peaked, flat, big, seeds: 4, timed: false);
    }

    /// <summary>
    /// The sliced path (sample_slices, sample_merge: a row over many blocks, for small batches) against sample's block a
    /// row: the same token for the same seed wherever it draws itself (top-k 1-64, greedy, forced, untruncated) and where
    /// it hands the row to the whole-row path (logprobs, a nucleus below what the slices keep); top-p alone over what the
    /// slices keep, whose mass it sums in another order, the same for these seeds too; then (<paramref name="timed"/>)
    /// both timed on one 151936-entry row.
    /// </summary>
    private static void SlicedChecks(CudaDevice device, CudaKernels k, Random random, float[] small, float[] peaked, float[] flat, float[] big, int seeds,
        bool timed)
    {
        // a reasoning model's next-token row: a few dozen tokens far ahead, some of them next to each other in the vocabulary
        float[] reasoning = Enumerable.Range(0, big.Length).Select(i => (float)(random.NextDouble() * 6 - 3) + (i % 4099 < 3 || i is > 200 and < 230 ? 12f : 0f)).ToArray();
        // a flat row (random weights' logits), whose nucleus holds most of it
        float[] flatBig = Enumerable.Range(0, big.Length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        foreach ((float[] row, string shape) in new[]
        {
            (small, "1000"), (peaked, "peaked 8000"), (flat, "flat 8000"), (big, "random 151936"), (reasoning, "peaked 151936"), (flatBig, "flat 151936"),
        })
        {
            foreach ((float t, float topP, int topK, float minP, int logprobs, int forced) in new[]
            {
                (0.6f, 0.95f, 20, 0f, -1, -1), (1f, 1f, 1, 0f, -1, -1), (0.8f, 0.8f, 40, 0.05f, -1, -1), (0.7f, 0.9f, 64, 0f, -1, -1),
                (1.3f, 1f, 5, 0.1f, -1, -1), (0f, 1f, 20, 0f, -1, -1), (0.6f, 0.95f, 20, 0f, -1, 7), (0.6f, 0.95f, 0, 0f, -1, -1),
                (0.6f, 0.95f, 20, 0f, 2, -1), (0.8f, 0.9f, 0, 0.05f, -1, -1), (1f, 1f, 0, 0f, -1, -1),
            })
            {
                var parameters = Enumerable.Range(0, seeds).Select(i => new BackendSamplingParams(t, topP, topK, minP, Mix((ulong)i + 999), logprobs, forced)).ToArray();
                var (whole, wholeRaw) = DrawFull(device, k, row, parameters);
                var (sliced, slicedRaw) = DrawFull(device, k, row, parameters, sliced: true);
                bool same = wholeRaw.AsSpan().SequenceEqual(slicedRaw);
                int distinct = whole.Tokens[..seeds].Distinct().Count();
                Report.Check($"sample sliced vs whole-row, {shape}: T={t} top_p={topP} top_k={topK} min_p={minP} logprobs={logprobs} forced={forced}", same,
                    same ? $"the same results for {seeds} seeds ({distinct} distinct tokens)" : $"DIFFER ({whole.Tokens[..seeds].Zip(sliced.Tokens).Count(x => x.First != x.Second)} tokens of {seeds})");
            }
        }

        if (!timed)
        {
            return;
        }
        // one row of Qwen's vocabulary, a one-stream server's sampled step (Qwen3's settings, DeepSeek-R1's): mean of 50
        // launches each way; and the flat row, also untruncated (an OpenAI request's defaults for a model without a
        // generation config)
        using DeviceBuffer dout = new(4L * Gpu.Sample.OutInts), scratch = new(Math.Max(16, Gpu.Sample.ScratchBytes(1, big.Length)));
        foreach ((float[] row, string shape, float t, float topP, int topK) in new[]
        {
            (reasoning, "peaked", 0.6f, 0.95f, 20), (reasoning, "peaked", 0.6f, 0.95f, 0), (flatBig, "flat", 1f, 0.95f, 0), (flatBig, "flat", 1f, 1f, 0),
        })
        {
            var packed = new float[Gpu.Sample.ParamFloats];
            Gpu.Sample.Pack(new BackendSamplingParams(t, topP, topK, 0f, 42, -1), packed, 0);
            using DeviceBuffer dl = Upload(row), dp = Upload(packed);
            foreach (bool sliced in new[] { false, true })
            {
                double ms = EventTimer.MeanMilliseconds(device.Stream, 50, () =>
                    Gpu.Sample.Launch(k, device.Stream, dl.Pointer, dl.Pointer, row.Length, dp.Pointer, dout.Pointer, 1, scratch.Pointer, sliced));
                Report.Line($"  sample {(sliced ? "sliced" : "whole-row")}: one {shape} row of {row.Length}, T {t}, top-p {topP}, top-k {topK}: {ms * 1000:F1} us a launch");
            }
        }
    }

    /// <summary>
    /// logit_adjust.cu against <see cref="LogitAdjustments.Apply"/> (bit-exact: the same IEEE operations), built by the
    /// engine's sampler for bias, min_tokens masking and penalties; then sample.cu on the adjusted rows: greedy picks the
    /// adjusted argmax, a forced token wins, and logprobs stay those of the raw row.
    /// </summary>
    private static void AdjustmentChecks(CudaDevice device, CudaKernels k, Random random, int vocab)
    {
        const int rows = 3;
        var sampler = new Sampler(vocab, [7]);
        var adjustments = new LogitAdjustments();
        Sequence[] seqs =
        [
            Seq(new SamplingParams { Temperature = 0, RepetitionPenalty = 1.3f, FrequencyPenalty = 0.4f, PresencePenalty = 0.2f }, [5, 9, 9, 400]),
            Seq(new SamplingParams { Temperature = 0, LogitBias = new Dictionary<int, float> { [11] = 50f, [12] = -3f }, MinTokens = 10, StopTokenIds = [13] }, [1]),
            Seq(new SamplingParams { Temperature = 0 }, []),
        ];
        foreach (Sequence seq in seqs)
        {
            sampler.AddAdjustments(seq, adjustments);
        }
        float[] raw = Enumerable.Range(0, rows * vocab).Select(_ => (float)(random.NextDouble() * 10 - 5)).ToArray();
        var expected = new float[rows * vocab];
        for (int r = 0; r < rows; r++)
        {
            adjustments.Apply(r, raw.AsSpan(r * vocab, vocab), expected.AsSpan(r * vocab, vocab));
        }
        var packed = new int[Gpu.LogitAdjust.IntsFor(adjustments)];
        Gpu.LogitAdjust.Pack(adjustments, packed);
        using DeviceBuffer draw = Upload(raw), dadjusted = new(4L * rows * vocab), dpacked = Upload(packed);
        Gpu.LogitAdjust.Launch(k, device.Stream, draw.Pointer, dadjusted.Pointer, vocab, dpacked.Pointer, rows);
        float[] got = Download<float>(dadjusted.Pointer, rows * vocab);
        bool same = got.AsSpan().SequenceEqual(expected);
        Report.Check($"logit_adjust vs the sampler's processing ({adjustments.Count} entries: penalties, bias, min_tokens; vocab {vocab})", same,
            same ? "bit-exact" : $"differs ({Errors(got, expected).Relative:E2})");

        var parameters = new BackendSamplingParams[] { new(0f, 1f, 0, 0f, 0, 3), new(0f, 1f, 0, 0f, 0, 3), new(0f, 1f, 0, 0f, 0, 3, Forced: 42) };
        var pp = new float[rows * Gpu.Sample.ParamFloats];
        for (int r = 0; r < rows; r++)
        {
            Gpu.Sample.Pack(parameters[r], pp, r);
        }
        using DeviceBuffer dp = Upload(pp), dout = new(4L * rows * Gpu.Sample.OutInts), scratch = new(Math.Max(16, Gpu.Sample.ScratchBytes(rows, vocab)));
        Gpu.Sample.Launch(k, device.Stream, draw.Pointer, dadjusted.Pointer, vocab, dp.Pointer, dout.Pointer, rows, scratch.Pointer);
        int[] result = Download<int>(dout.Pointer, rows * Gpu.Sample.OutInts);
        var samples = new BackendSamples();
        samples.EnsureCapacity(rows);
        for (int r = 0; r < rows; r++)
        {
            Gpu.Sample.Unpack(result, r, 3, samples);
        }
        bool tokens = samples.Tokens[0] == Decoding.ArgMax(expected.AsSpan(0, vocab)) && samples.Tokens[1] == 11 && samples.Tokens[2] == 42;
        double[] rawLogprobs = Decoding.LogSoftmax(raw[(2 * vocab)..(3 * vocab)]);
        double error = Math.Abs(samples.Logprobs[2] - rawLogprobs[42]);
        Report.Check($"sample on adjusted rows of {vocab}: penalized argmax, a +50 bias wins, a forced token wins with its raw logprob", tokens && error < 1e-4,
            $"tokens {samples.Tokens[0]}, {samples.Tokens[1]}, {samples.Tokens[2]}; forced token's logprob error {error:E2}");

        static Sequence Seq(SamplingParams p, int[] output)
        {
            var seq = new Sequence("check", 0, [5, 6, 7, 8], p, null, detokenizer: null);
            foreach (int t in output)
            {
                seq.OutputTokenIds.Add(t);
            }
            return seq;
        }
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9e3779b97f4a7c15ul;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ul;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebul;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// <paramref name="draws"/> seeded draws from <paramref name="logits"/>: every one must be a token the sampler's rules
    /// keep, and their frequencies within 4/3 of exact sampling's expected total variation.
    /// </summary>
    private static void FrequencyCheck(CudaDevice device, CudaKernels k, float[] logits, int draws, float t, float topP, int topK, float minP, string shape,
        bool sliced = false)
    {
        int vocab = logits.Length;
        var parameters = Enumerable.Range(0, draws).Select(i => new BackendSamplingParams(t, topP, topK, minP, Mix((ulong)i), -1)).ToArray();
        int[] tokens = Draw(device, k, logits, parameters, sliced);
        double[] expected = Kept(logits, t, topP, topK, minP);
        var counts = new double[vocab];
        bool inside = true;
        foreach (int token in tokens)
        {
            inside &= (uint)token < vocab && expected[token] > 0;
            if ((uint)token < vocab)
            {
                counts[token]++;
            }
        }
        double tv = 0;
        for (int i = 0; i < vocab; i++)
        {
            tv += Math.Abs(counts[i] / draws - expected[i]);
        }
        tv /= 2;
        int kept = expected.Count(p => p > 0);
        // Exact draws are off by |count/N - p| ~ sqrt(2 p (1 - p) / (pi N)) per token on average, so a fair sampler's
        // total variation is about half their sum (0.06 for 1000 near-uniform tokens at N = 20000): allow a third more.
        double noise = 0.5 * expected.Sum(p => Math.Sqrt(2 * p * (1 - p) / (Math.PI * draws))), bound = 4.0 / 3 * noise;
        Report.Check($"sample T={t} top_p={topP} top_k={topK} min_p={minP}{shape}", inside && tv < bound,
            $"{kept} tokens kept; {draws} draws {(inside ? "all inside" : "SOME OUTSIDE")}; total variation {tv:F4} (< {bound:F4}, noise {noise:F4})");
    }

    private static int[] Draw(CudaDevice device, CudaKernels k, float[] row, BackendSamplingParams[] parameters, bool sliced = false) =>
        DrawFull(device, k, row, parameters, sliced).Samples.Tokens[..parameters.Length];

    /// <summary>
    /// Runs sample.cu on <paramref name="row"/> repeated once per parameter row: in one launch of sample's block a row, or
    /// (<paramref name="sliced"/>) in launches of the sliced path's most rows.
    /// </summary>
    private static (BackendSamples Samples, int[] Raw) DrawFull(CudaDevice device, CudaKernels k, float[] row, BackendSamplingParams[] parameters,
        bool sliced = false)
    {
        int rows = parameters.Length, n = row.Length;
        var all = new float[(long)rows * n];
        for (int r = 0; r < rows; r++)
        {
            row.CopyTo(all, (long)r * n);
        }
        var packed = new float[rows * Gpu.Sample.ParamFloats];
        for (int r = 0; r < rows; r++)
        {
            Gpu.Sample.Pack(parameters[r], packed, r);
        }
        int batch = sliced ? Math.Max(1, Gpu.Sample.SlicedMaxRows) : rows;
        using DeviceBuffer dl = Upload(all), dp = Upload(packed), dout = new(4L * rows * Gpu.Sample.OutInts),
            scratch = new(Math.Max(16, Gpu.Sample.ScratchBytes(Math.Min(batch, rows), n)));
        for (int first = 0; first < rows; first += batch)
        {
            int count = Math.Min(batch, rows - first);
            Gpu.Sample.Launch(k, device.Stream, dl.At(4L * first * n), dl.At(4L * first * n), n, dp.At(4L * first * Gpu.Sample.ParamFloats),
                dout.At(4L * first * Gpu.Sample.OutInts), count, scratch.Pointer, sliced);
        }
        int[] raw = Download<int>(dout.Pointer, rows * Gpu.Sample.OutInts);
        var samples = new BackendSamples();
        samples.EnsureCapacity(rows);
        for (int r = 0; r < rows; r++)
        {
            Gpu.Sample.Unpack(raw, r, parameters[r].Logprobs, samples);
        }
        return (samples, raw);
    }

    /// <summary>The sampler's rules in double: temperature, min-p, top-k (ties kept), top-p nucleus; normalized kept probabilities.</summary>
    private static double[] Kept(float[] logits, float t, float topP, int topK, float minP)
    {
        int n = logits.Length;
        double max = logits.Max() / (double)t;
        double[] p = logits.Select(x => Math.Exp(x / (double)t - max)).ToArray();
        for (int i = 0; i < n; i++)
        {
            if (p[i] < minP)
            {
                p[i] = 0;
            }
        }
        if (topK > 0 && topK < n)
        {
            double kth = p.OrderByDescending(x => x).ElementAt(topK - 1);
            for (int i = 0; i < n; i++)
            {
                if (p[i] < kth)
                {
                    p[i] = 0;
                }
            }
        }
        if (topP < 1)
        {
            double mass = topP * p.Sum(), cumulative = 0;
            int[] order = Enumerable.Range(0, n).Where(i => p[i] > 0).OrderByDescending(i => p[i]).ToArray();
            var keep = new bool[n];
            foreach (int i in order)
            {
                if (cumulative >= mass)
                {
                    break;
                }
                cumulative += p[i];
                keep[i] = true;
            }
            for (int i = 0; i < n; i++)
            {
                if (!keep[i])
                {
                    p[i] = 0;
                }
            }
        }
        double total = p.Sum();
        return p.Select(x => x / total).ToArray();
    }
}
