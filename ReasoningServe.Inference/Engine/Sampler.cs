using System.Numerics.Tensors;

namespace ReasoningServe.Inference.Engine;

/// <summary>
/// Picks each sequence's next token from its fp32 logits row, in vLLM's order: logit_bias and min_tokens masking,
/// repetition / frequency / presence penalties, temperature (0 = greedy), then min-p, top-k, top-p, then a draw from the
/// sequence's own RNG (seeded requests) or the shared one. Logprobs are of the raw logits, before any of that. All
/// scratch space is allocated once per sampler.
/// </summary>
internal sealed class Sampler
{
    /// <summary>Temperatures below this are greedy, as in vLLM (dividing by them would overflow).</summary>
    private const float GreedyEpsilon = 1e-5f;

    private readonly int _vocabSize;
    private readonly IReadOnlyList<int> _eosTokenIds;
    private readonly Random _sharedRng;
    private readonly float[] _raw;
    private readonly float[] _probs;
    private readonly int[] _indices;
    private readonly int[] _counts;
    private readonly int[] _stamps;
    private readonly int[] _entryOf;
    private readonly LogitAdjustments _adjustments = new(); // ProcessLogits' one row
    private int _stamp;

    public Sampler(int vocabSize, IReadOnlyList<int> eosTokenIds, Random? sharedRng = null)
    {
        _vocabSize = vocabSize;
        _eosTokenIds = eosTokenIds;
        _sharedRng = sharedRng ?? new Random();
        _raw = new float[vocabSize];
        _probs = new float[vocabSize];
        _indices = new int[vocabSize];
        _counts = new int[vocabSize];
        _stamps = new int[vocabSize];
        _entryOf = new int[vocabSize];
    }

    /// <summary>Returns the next token of <paramref name="seq"/>; <paramref name="logits"/> is used as scratch.</summary>
    public int Sample(Sequence seq, Span<float> logits, out TokenLogprob? logprob)
    {
        SamplingParams p = seq.Sampling;
        logits = logits[.._vocabSize];
        if (p.Logprobs is not null)
        {
            logits.CopyTo(_raw);
        }

        int token;
        if (seq.MustEndThinking)
        {
            token = p.ThinkEndTokenId!.Value;
        }
        else
        {
            ProcessLogits(seq, logits);
            token = p.Temperature < GreedyEpsilon ? TensorPrimitives.IndexOfMax(logits) : SampleRandom(seq, logits);
        }

        logprob = p.Logprobs is int top ? ComputeLogprob(token, top) : null;
        return token;
    }

    /// <summary>
    /// True when this step's token is simply the argmax of the raw logits: greedy, no logprobs, and nothing that would
    /// change the logits (bias, min_tokens masking, penalties, a forced end of thinking). Such tokens can be picked where
    /// the logits are (<see cref="Backends.IModelBackend.TryForwardGreedy"/>).
    /// </summary>
    public static bool IsPlainGreedy(Sequence seq)
    {
        SamplingParams p = seq.Sampling;
        return p.Temperature < GreedyEpsilon && p.Logprobs is null && (p.LogitBias is null || p.LogitBias.Count == 0)
            && p.PresencePenalty == 0 && p.FrequencyPenalty == 0 && p.RepetitionPenalty == 1
            && seq.OutputTokenIds.Count >= p.MinTokens && !seq.MustEndThinking;
    }

    /// <summary>
    /// True when a backend can draw this step's token itself (<see cref="Backends.IModelBackend.TryForwardSampled"/>): it
    /// applies logit bias, min_tokens masking and penalties from <see cref="AddAdjustments"/>, and forced tokens, so only
    /// more than <see cref="Backends.BackendSamples.MaxTopLogprobs"/> logprobs keep a step on the CPU.
    /// </summary>
    public static bool IsBackendSamplable(Sequence seq) =>
        seq.Sampling.Logprobs is null || seq.Sampling.Logprobs <= Backends.BackendSamples.MaxTopLogprobs;

    /// <summary>
    /// Appends <paramref name="seq"/>'s row to <paramref name="adjustments"/>: what <see cref="ProcessLogits"/> would do
    /// to its logits, token by token (nothing for a forced end of thinking, which ignores the logits).
    /// </summary>
    public void AddAdjustments(Sequence seq, LogitAdjustments adjustments)
    {
        adjustments.BeginRow();
        if (seq.MustEndThinking)
        {
            return;
        }
        SamplingParams p = seq.Sampling;
        int stamp = NextStamp();
        ref LogitAdjustment Entry(int token)
        {
            if (_stamps[token] != stamp)
            {
                _stamps[token] = stamp;
                _entryOf[token] = adjustments.Add(token);
                _counts[token] = 0;
            }
            return ref adjustments[_entryOf[token]];
        }
        void AddBias(KeyValuePair<int, float> kv)
        {
            if ((uint)kv.Key < (uint)_vocabSize)
            {
                Entry(kv.Key).Add += kv.Value;
            }
        }
        if (p.LogitBias is Dictionary<int, float> bias) // the struct enumerator: no allocation per step
        {
            foreach (KeyValuePair<int, float> kv in bias)
            {
                AddBias(kv);
            }
        }
        else if (p.LogitBias is not null)
        {
            foreach (KeyValuePair<int, float> kv in p.LogitBias)
            {
                AddBias(kv);
            }
        }
        if (seq.OutputTokenIds.Count < p.MinTokens)
        {
            if (!p.IgnoreEos)
            {
                foreach (int t in _eosTokenIds)
                {
                    if ((uint)t < (uint)_vocabSize)
                    {
                        Entry(t).Masked = true;
                    }
                }
            }
            foreach (int t in p.StopTokenIds)
            {
                if ((uint)t < (uint)_vocabSize)
                {
                    Entry(t).Masked = true;
                }
            }
        }
        if (p.RepetitionPenalty != 1.0f)
        {
            foreach (int t in seq.PromptTokenIds)
            {
                Entry(t).Repetition = p.RepetitionPenalty;
            }
            foreach (int t in seq.OutputTokenIds)
            {
                Entry(t).Repetition = p.RepetitionPenalty;
            }
        }
        if (p.FrequencyPenalty != 0f || p.PresencePenalty != 0f)
        {
            foreach (int t in seq.OutputTokenIds)
            {
                Entry(t);
                _counts[t]++;
            }
            foreach (int t in seq.OutputTokenIds)
            {
                Entry(t).Subtract = _counts[t] * p.FrequencyPenalty + p.PresencePenalty;
            }
        }
    }

    /// <summary>
    /// The backend's parameters for this step of <paramref name="seq"/>; the seed is the next draw of the sequence's own
    /// RNG (seeded requests) or the shared one, so seeded requests repeat on the same backend and batch.
    /// </summary>
    public Backends.BackendSamplingParams BackendParams(Sequence seq)
    {
        SamplingParams p = seq.Sampling;
        bool greedy = p.Temperature < GreedyEpsilon || seq.MustEndThinking;
        ulong seed = greedy ? 0 : unchecked((ulong)(seq.Rng ?? _sharedRng).NextInt64());
        int forced = seq.MustEndThinking ? p.ThinkEndTokenId!.Value : -1;
        return new(greedy ? 0f : p.Temperature, p.TopP, p.TopK > 0 && p.TopK < _vocabSize ? p.TopK : 0, p.MinP, seed, p.Logprobs ?? -1, forced);
    }

    /// <summary>The logprob entry of row <paramref name="row"/> of a backend's draws, when the request asked for logprobs.</summary>
    public static TokenLogprob? BackendLogprob(Sequence seq, Backends.BackendSamples samples, int row)
    {
        if (seq.Sampling.Logprobs is not int top)
        {
            return null;
        }
        var entries = new TopLogprob[top];
        for (int k = 0; k < top; k++)
        {
            int at = row * Backends.BackendSamples.MaxTopLogprobs + k;
            entries[k] = new TopLogprob(samples.TopIds[at], samples.TopLogprobs[at]);
        }
        return new TokenLogprob(samples.Tokens[row], samples.Logprobs[row], samples.Ranks[row], entries);
    }

    /// <summary>
    /// Everything that changes logits before temperature: logit_bias, min_tokens masking, penalties. The rules live once,
    /// in <see cref="AddAdjustments"/>; this applies them here as a backend applies them where its logits are.
    /// </summary>
    public void ProcessLogits(Sequence seq, Span<float> logits)
    {
        _adjustments.Clear();
        AddAdjustments(seq, _adjustments);
        _adjustments.Apply(0, logits, logits);
    }

    private int SampleRandom(Sequence seq, Span<float> logits)
    {
        SamplingParams p = seq.Sampling;
        TensorPrimitives.Multiply(logits, 1f / p.Temperature, logits);

        // Unnormalised probabilities with the largest at exactly 1: min-p's threshold is then min_p itself.
        Span<float> probs = _probs;
        TensorPrimitives.Subtract(logits, TensorPrimitives.Max(logits), probs);
        TensorPrimitives.Exp(probs, probs);

        if (p.MinP > 0f)
        {
            ZeroBelow(probs, p.MinP);
        }
        if (p.TopK > 0 && p.TopK < _vocabSize)
        {
            Span<int> all = FillIndices(_vocabSize);
            TopSelection.SelectLargest(all, _probs, p.TopK);
            ZeroBelow(probs, _probs[all[p.TopK - 1]]);
        }

        double u = (seq.Rng ?? _sharedRng).NextDouble();
        return p.TopP < 1.0f ? SampleTopP(p.TopP, u) : SampleFromCdf(u);
    }

    private int SampleFromCdf(double u)
    {
        ReadOnlySpan<float> probs = _probs;
        double target = u * TensorPrimitives.Sum(probs);
        double cumulative = 0;
        int last = 0;
        for (int i = 0; i < probs.Length; i++)
        {
            if (probs[i] > 0f)
            {
                cumulative += probs[i];
                last = i;
                if (cumulative > target)
                {
                    return i;
                }
            }
        }
        return last;
    }

    /// <summary>
    /// Nucleus sampling: the most likely tokens whose cumulative probability before each of them is below top_p. Only
    /// as many candidates as needed are ordered (64, then 4x more while the nucleus is not complete).
    /// </summary>
    private int SampleTopP(float topP, double u)
    {
        int count = 0;
        for (int i = 0; i < _vocabSize; i++)
        {
            if (_probs[i] > 0f)
            {
                _indices[count++] = i;
            }
        }
        if (count == 0)
        {
            // Only NaN logits (a numerically broken step) leave no candidate: answer a valid id rather than stop the engine.
            return TensorPrimitives.IndexOfMax((ReadOnlySpan<float>)_probs);
        }
        Span<int> candidates = _indices.AsSpan(0, count);
        double nucleusMass = topP * (double)TensorPrimitives.Sum((ReadOnlySpan<float>)_probs);
        int ordered = Math.Min(64, count);
        while (true)
        {
            TopSelection.SelectLargest(candidates, _probs, ordered);
            TopSelection.SortDescending(candidates[..ordered], _probs);
            double cumulative = 0;
            int kept = 0;
            // The most likely token always stays: a top_p whose mass rounds to 0 (1e-50 is in (0, 1], and 0 as a float)
            // would otherwise keep nothing.
            while (kept < ordered && (kept == 0 || cumulative < nucleusMass))
            {
                cumulative += _probs[candidates[kept++]];
            }
            if (cumulative >= nucleusMass || ordered == count)
            {
                double target = u * cumulative;
                double running = 0;
                for (int j = 0; j < kept; j++)
                {
                    running += _probs[candidates[j]];
                    if (running > target)
                    {
                        return candidates[j];
                    }
                }
                return candidates[kept - 1];
            }
            ordered = Math.Min(count, ordered * 4);
        }
    }

    private TokenLogprob ComputeLogprob(int token, int numTop)
    {
        ReadOnlySpan<float> raw = _raw;
        float max = TensorPrimitives.Max(raw);
        TensorPrimitives.Subtract(raw, max, _probs);
        TensorPrimitives.Exp(_probs, _probs);
        float logSumExp = max + MathF.Log(TensorPrimitives.Sum((ReadOnlySpan<float>)_probs));

        float chosen = raw[token];
        int rank = 1;
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] > chosen)
            {
                rank++;
            }
        }

        numTop = Math.Min(numTop, _vocabSize);
        var top = new TopLogprob[numTop];
        if (numTop > 0)
        {
            Span<int> all = FillIndices(_vocabSize);
            TopSelection.SelectLargest(all, _raw, numTop);
            TopSelection.SortDescending(all[..numTop], _raw);
            for (int i = 0; i < numTop; i++)
            {
                top[i] = new TopLogprob(all[i], raw[all[i]] - logSumExp);
            }
        }
        return new TokenLogprob(token, chosen - logSumExp, rank, top);
    }

    private Span<int> FillIndices(int count)
    {
        Span<int> indices = _indices.AsSpan(0, count);
        for (int i = 0; i < count; i++)
        {
            indices[i] = i;
        }
        return indices;
    }

    private static void ZeroBelow(Span<float> probs, float threshold)
    {
        for (int i = 0; i < probs.Length; i++)
        {
            if (probs[i] < threshold)
            {
                probs[i] = 0f;
            }
        }
    }

    /// <summary>A fresh marker for the <c>_stamps</c> array, so "seen this step" needs no clearing.</summary>
    private int NextStamp()
    {
        if (_stamp == int.MaxValue)
        {
            Array.Clear(_stamps);
            _stamp = 0;
        }
        return ++_stamp;
    }
}
