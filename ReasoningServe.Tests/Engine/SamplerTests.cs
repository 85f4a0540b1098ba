using ReasoningServe.Inference.Engine;

namespace ReasoningServe.Tests.Engine;

/// <summary>
/// Sampler semantics checked against probabilities computed here from the definitions. Statistical checks draw from
/// seeded RNGs, so they are deterministic; tolerances are ~5 standard deviations of the sample frequency.
/// </summary>
public class SamplerTests
{
    private const int Draws = 20000;

    [Fact]
    public void Greedy_picks_the_lowest_id_among_tied_maxima()
    {
        float[] logits = [0.5f, 2f, -1f, 2f, 2f, 1.9f];
        var sampler = new Sampler(logits.Length, []);
        Assert.Equal(1, sampler.Sample(Seqs.New([0], Greedy), (float[])logits.Clone(), out _));
    }

    [Fact]
    public void Top_k_1_and_a_tiny_top_p_always_pick_the_greedy_token()
    {
        var rng = new Random(11);
        var sampler = new Sampler(300, []);
        for (int row = 0; row < 200; row++)
        {
            float[] logits = RandomLogits(rng, 300, scale: 3f);
            int greedy = sampler.Sample(Seqs.New([0], Greedy), (float[])logits.Clone(), out _);
            Assert.Equal(greedy, sampler.Sample(Seqs.New([0], new SamplingParams { TopK = 1 }, new Random(row)), (float[])logits.Clone(), out _));
            Assert.Equal(greedy, sampler.Sample(Seqs.New([0], new SamplingParams { TopP = 1e-6f }, new Random(row)), (float[])logits.Clone(), out _));
        }
    }

    [Fact]
    public void Frequencies_follow_the_softmax_of_logits_over_temperature()
    {
        float[] logits = [1.0f, 0.2f, -0.5f, 1.4f, 0f];
        double[] expected = Softmax(logits.Select(l => l / 0.7).ToArray());
        AssertFrequencies(logits, new SamplingParams { Temperature = 0.7f }, expected);
    }

    [Fact]
    public void Top_k_samples_only_the_k_most_likely_in_proportion()
    {
        float[] logits = [1.0f, 0.2f, -0.5f, 1.4f, 0f, 0.9f];
        double[] p = Softmax(logits.Select(l => (double)l).ToArray());
        double[] expected = new double[p.Length];
        int[] top3 = [3, 0, 5];
        double mass = top3.Sum(i => p[i]);
        foreach (int i in top3)
        {
            expected[i] = p[i] / mass;
        }
        AssertFrequencies(logits, new SamplingParams { TopK = 3 }, expected);
    }

    [Fact]
    public void Top_p_keeps_the_most_likely_tokens_until_their_mass_reaches_p()
    {
        float[] logits = [MathF.Log(0.15f), MathF.Log(0.5f), MathF.Log(0.05f), MathF.Log(0.3f)];
        // Descending: 0.5, 0.3, 0.15, 0.05. With top_p 0.75 the first two are needed (0.5 < 0.75 <= 0.8).
        AssertFrequencies(logits, new SamplingParams { TopP = 0.75f }, [0, 0.5 / 0.8, 0, 0.3 / 0.8]);
    }

    [Fact]
    public void Top_p_over_a_wide_distribution_samples_exactly_the_nucleus()
    {
        var rng = new Random(5);
        float[] logits = RandomLogits(rng, 2000, scale: 0.5f);
        double[] p = Softmax(logits.Select(l => (double)l).ToArray());
        int[] order = Enumerable.Range(0, p.Length).OrderByDescending(i => p[i]).ThenBy(i => i).ToArray();
        var nucleus = new HashSet<int>();
        double cumulative = 0;
        foreach (int i in order)
        {
            if (cumulative >= 0.6)
            {
                break;
            }
            nucleus.Add(i);
            cumulative += p[i];
        }
        Assert.True(nucleus.Count > 256, "the nucleus should be wider than the sampler's first candidate rounds");

        var sampler = new Sampler(logits.Length, []);
        Sequence seq = Seqs.New([0], new SamplingParams { TopP = 0.6f }, new Random(9));
        var seen = new HashSet<int>();
        for (int i = 0; i < Draws; i++)
        {
            int t = sampler.Sample(seq, (float[])logits.Clone(), out _);
            Assert.Contains(t, nucleus);
            seen.Add(t);
        }
        Assert.True(seen.Count > nucleus.Count * 0.9, $"sampled {seen.Count} distinct tokens of a {nucleus.Count}-token nucleus");
    }

    [Fact]
    public void Min_p_drops_tokens_below_min_p_times_the_top_probability()
    {
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.15f), MathF.Log(0.05f)];
        // Threshold 0.2 * 0.5 = 0.1: token 3 (0.05) goes, the rest keep their relative weights.
        AssertFrequencies(logits, new SamplingParams { MinP = 0.2f }, [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0]);
    }

    [Fact]
    public void Repetition_penalty_divides_positive_and_multiplies_negative_logits_of_prompt_and_output_tokens()
    {
        float[] logits = [2f, -1f, 0.5f, -3f, 1f, 4f];
        var sampler = new Sampler(logits.Length, []);
        Sequence seq = Seqs.New([0, 1, 1], new SamplingParams { RepetitionPenalty = 2f });
        seq.AppendToken(3);
        seq.AppendToken(0);

        float[] processed = (float[])logits.Clone();
        sampler.ProcessLogits(seq, processed);
        Assert.Equal([2f / 2, -1f * 2, 0.5f, -3f * 2, 1f, 4f], processed);
    }

    [Fact]
    public void Frequency_and_presence_penalties_count_output_tokens_only()
    {
        float[] logits = [2f, -1f, 0.5f, -3f, 1f, 4f];
        var sampler = new Sampler(logits.Length, []);
        Sequence seq = Seqs.New([5, 5, 5], new SamplingParams { FrequencyPenalty = 0.5f, PresencePenalty = 0.25f });
        foreach (int t in new[] { 2, 4, 2, 2 })
        {
            seq.AppendToken(t);
        }

        float[] processed = (float[])logits.Clone();
        sampler.ProcessLogits(seq, processed);
        Assert.Equal([2f, -1f, 0.5f - (3 * 0.5f + 0.25f), -3f, 1f - (0.5f + 0.25f), 4f], processed);

        // The distribution that results is what gets sampled.
        AssertFrequencies(logits, seq.Sampling, Softmax(processed.Select(l => (double)l).ToArray()), seq);
    }

    [Fact]
    public void Logit_bias_is_added_and_min_tokens_masks_eos_and_stop_token_ids()
    {
        float[] logits = [2f, 1f, 0.5f, 3f];
        var sampler = new Sampler(logits.Length, eosTokenIds: [3]);
        var p = new SamplingParams
        {
            Temperature = 0,
            MinTokens = 2,
            StopTokenIds = [0],
            LogitBias = new Dictionary<int, float> { [2] = 0.75f },
        };
        Sequence seq = Seqs.New([1], p);
        Assert.Equal(2, sampler.Sample(seq, (float[])logits.Clone(), out _));
        seq.AppendToken(2);
        Assert.Equal(2, sampler.Sample(seq, (float[])logits.Clone(), out _));
        seq.AppendToken(2);
        Assert.Equal(3, sampler.Sample(seq, (float[])logits.Clone(), out _));

        Sequence ignoresEos = Seqs.New([1], p with { IgnoreEos = true });
        Assert.Equal(3, sampler.Sample(ignoresEos, (float[])logits.Clone(), out _));
    }

    [Fact]
    public void Seeded_sequences_draw_the_same_tokens_however_they_are_interleaved()
    {
        var rng = new Random(3);
        float[][] rows = Enumerable.Range(0, 40).Select(_ => RandomLogits(rng, 50, scale: 1f)).ToArray();
        var p = new SamplingParams { Temperature = 0.9f, TopP = 0.9f, TopK = 20 };

        var alone = new Sampler(50, []);
        Sequence a = Seqs.New([0], p, new Random(42));
        int[] aloneTokens = rows.Select(r => alone.Sample(a, (float[])r.Clone(), out _)).ToArray();

        var shared = new Sampler(50, []);
        Sequence b = Seqs.New([0], p, new Random(42));
        Sequence unseeded = Seqs.New([0], p);
        Sequence otherSeed = Seqs.New([0], p, new Random(43));
        var interleaved = new List<int>();
        foreach (float[] r in rows)
        {
            shared.Sample(unseeded, (float[])r.Clone(), out _);
            interleaved.Add(shared.Sample(b, (float[])r.Clone(), out _));
            shared.Sample(otherSeed, (float[])r.Clone(), out _);
        }
        Assert.Equal(aloneTokens, interleaved);
    }

    [Fact]
    public void Logprobs_are_the_log_softmax_of_the_raw_logits_with_rank_and_sorted_alternatives()
    {
        float[] logits = [0.3f, 2.5f, -1f, 2.5f, 1.7f, 0f];
        var sampler = new Sampler(logits.Length, []);
        var p = new SamplingParams { Temperature = 0.5f, RepetitionPenalty = 3f, Logprobs = 3 };
        Sequence seq = Seqs.New([1, 3], p, new Random(1));
        int token = sampler.Sample(seq, (float[])logits.Clone(), out TokenLogprob? lp);

        double[] logp = Softmax(logits.Select(l => (double)l).ToArray()).Select(x => Math.Log(x)).ToArray();
        Assert.NotNull(lp);
        Assert.Equal(token, lp.TokenId);
        Assert.Equal(logp[token], lp.Logprob, 1e-5);
        Assert.Equal(1 + logits.Count(l => l > logits[token]), lp.Rank);
        Assert.Equal([1, 3, 4], lp.Top.Select(t => t.TokenId));
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(logp[lp.Top[i].TokenId], lp.Top[i].Logprob, 1e-5);
        }
    }

    [Fact]
    public void A_backend_gets_the_request_settings_a_seed_per_step_and_the_forced_token()
    {
        Assert.True(Sampler.IsBackendSamplable(Seqs.New([0], new SamplingParams { Temperature = 0.6f, TopP = 0.95f, TopK = 20, Logprobs = 20 })));
        Assert.True(Sampler.IsBackendSamplable(Seqs.New([0], new SamplingParams { RepetitionPenalty = 1.1f, MinTokens = 3 })));
        Assert.False(Sampler.IsBackendSamplable(Seqs.New([0], new SamplingParams { Logprobs = 21 })));

        var sampler = new Sampler(100, []);
        Sequence seeded = Seqs.New([0], new SamplingParams { Temperature = 0.6f, TopP = 0.95f, TopK = 200, MinP = 0.05f, Logprobs = 3 }, new Random(5));
        var first = sampler.BackendParams(seeded);
        var second = sampler.BackendParams(seeded);
        Assert.Equal((0.6f, 0.95f, 0, 0.05f, 3, -1), (first.Temperature, first.TopP, first.TopK, first.MinP, first.Logprobs, first.Forced));
        Assert.NotEqual(first.Seed, second.Seed);
        var again = new Sampler(100, []).BackendParams(Seqs.New([0], seeded.Sampling, new Random(5)));
        Assert.Equal(first.Seed, again.Seed);
        var greedy = sampler.BackendParams(Seqs.New([0], Greedy));
        Assert.Equal((0f, 0ul, -1), (greedy.Temperature, greedy.Seed, greedy.Logprobs));
    }

    [Fact]
    public void Logit_adjustments_for_a_backend_follow_vllms_processing_rules_exactly()
    {
        var rng = new Random(3);
        const int vocab = 400;
        var sampler = new Sampler(vocab, [2, 3]);
        var adjustments = new LogitAdjustments();
        var cases = new List<(Sequence Seq, float[] Raw)>();
        for (int i = 0; i < 60; i++)
        {
            var p = new SamplingParams
            {
                Temperature = 0.7f,
                RepetitionPenalty = i % 3 == 0 ? 1f : 0.8f + (float)rng.NextDouble(),
                FrequencyPenalty = i % 4 == 0 ? 0f : (float)rng.NextDouble() - 0.3f,
                PresencePenalty = i % 5 == 0 ? 0f : (float)rng.NextDouble(),
                LogitBias = i % 2 == 0 ? null : new Dictionary<int, float> { [rng.Next(vocab)] = 5f, [rng.Next(vocab)] = -7.5f, [vocab + 3] = 1f },
                MinTokens = i % 3 == 1 ? 50 : 0,
                StopTokenIds = [rng.Next(vocab)],
                IgnoreEos = i % 6 == 1,
            };
            Sequence seq = Seqs.New(Enumerable.Range(0, rng.Next(1, 40)).Select(_ => rng.Next(vocab)).ToArray(), p);
            for (int t = rng.Next(0, 60); t > 0; t--)
            {
                seq.OutputTokenIds.Add(rng.Next(vocab));
            }
            cases.Add((seq, RandomLogits(rng, vocab, scale: 4f)));
            sampler.AddAdjustments(seq, adjustments);
        }
        Assert.Equal(cases.Count, adjustments.Rows);
        var processed = new float[vocab];
        for (int row = 0; row < cases.Count; row++)
        {
            (Sequence seq, float[] raw) = cases[row];
            float[] expected = ProcessedByTheRules(seq, raw, eos: [2, 3]);
            adjustments.Apply(row, raw, processed);
            Assert.Equal(expected, processed);
            float[] inPlace = (float[])raw.Clone();
            sampler.ProcessLogits(seq, inPlace);
            Assert.Equal(expected, inPlace);
        }
    }

    /// <summary>
    /// vLLM's logit processing written out plainly, rule after rule: logit_bias; min_tokens masks EOS (unless ignore_eos)
    /// and stop ids; repetition penalty over the distinct prompt and output tokens; frequency and presence over output.
    /// </summary>
    private static float[] ProcessedByTheRules(Sequence seq, float[] raw, int[] eos)
    {
        SamplingParams p = seq.Sampling;
        float[] l = (float[])raw.Clone();
        foreach ((int token, float bias) in p.LogitBias ?? new Dictionary<int, float>())
        {
            if (token >= 0 && token < l.Length)
            {
                l[token] += bias;
            }
        }
        if (seq.OutputTokenIds.Count < p.MinTokens)
        {
            foreach (int token in (p.IgnoreEos ? [] : eos).Concat(p.StopTokenIds))
            {
                l[token] = float.NegativeInfinity;
            }
        }
        if (p.RepetitionPenalty != 1f)
        {
            foreach (int token in seq.PromptTokenIds.Concat(seq.OutputTokenIds).Distinct())
            {
                l[token] = l[token] > 0 ? l[token] / p.RepetitionPenalty : l[token] * p.RepetitionPenalty;
            }
        }
        foreach (IGrouping<int, int> same in seq.OutputTokenIds.GroupBy(t => t))
        {
            l[same.Key] -= same.Count() * p.FrequencyPenalty + p.PresencePenalty;
        }
        return l;
    }

    [Fact]
    public void A_backends_draw_becomes_the_same_logprob_entry_as_the_cpu_sampler_builds()
    {
        var samples = new Inference.Backends.BackendSamples();
        samples.EnsureCapacity(2);
        samples.Tokens[1] = 42;
        samples.Logprobs[1] = -0.5f;
        samples.Ranks[1] = 2;
        samples.TopIds[Inference.Backends.BackendSamples.MaxTopLogprobs + 0] = 7;
        samples.TopLogprobs[Inference.Backends.BackendSamples.MaxTopLogprobs + 0] = -0.1f;
        samples.TopIds[Inference.Backends.BackendSamples.MaxTopLogprobs + 1] = 42;
        samples.TopLogprobs[Inference.Backends.BackendSamples.MaxTopLogprobs + 1] = -0.5f;
        TokenLogprob? entry = Sampler.BackendLogprob(Seqs.New([0], new SamplingParams { Logprobs = 2 }), samples, 1);
        Assert.NotNull(entry);
        Assert.Equal((42, -0.5f, 2), (entry.TokenId, entry.Logprob, entry.Rank));
        Assert.Equal([new TopLogprob(7, -0.1f), new TopLogprob(42, -0.5f)], entry.Top);
        Assert.Null(Sampler.BackendLogprob(Seqs.New([0], new SamplingParams()), samples, 1));
    }

    [Fact]
    public void Thinking_budget_forces_the_end_token_once_the_budget_is_spent()
    {
        const int ThinkStart = 5;
        const int ThinkEnd = 6;
        float[] logits = [0f, 0f, 3f, 0f, 0f, 0f, 0f];
        var sampler = new Sampler(logits.Length, []);
        var p = new SamplingParams { Temperature = 0, ThinkingTokenBudget = 2, ThinkStartTokenId = ThinkStart, ThinkEndTokenId = ThinkEnd };

        Sequence seq = Seqs.New([1], p);
        var generated = new List<int>();
        for (int i = 0; i < 3; i++)
        {
            int t = sampler.Sample(seq, (float[])logits.Clone(), out _);
            generated.Add(t);
            seq.AppendToken(t);
        }
        Assert.Equal([2, 2, 2], generated);

        seq.AppendToken(ThinkStart);
        generated.Clear();
        for (int i = 0; i < 4; i++)
        {
            int t = sampler.Sample(seq, (float[])logits.Clone(), out _);
            generated.Add(t);
            seq.AppendToken(t);
        }
        Assert.Equal([2, 2, ThinkEnd, 2], generated);

        Sequence opened = Seqs.New([1], p with { PromptOpensThinking = true, ThinkingTokenBudget = 0 });
        Assert.Equal(ThinkEnd, sampler.Sample(opened, (float[])logits.Clone(), out _));
    }

    private static readonly SamplingParams Greedy = new() { Temperature = 0 };

    private static void AssertFrequencies(float[] logits, SamplingParams p, double[] expected, Sequence? seq = null)
    {
        var sampler = new Sampler(logits.Length, []);
        seq ??= Seqs.New([0], p);
        var rng = new Random(1234);
        var counts = new int[logits.Length];
        Sequence seeded = new(seq.RequestId, 0, seq.PromptTokenIds, p, rng, null);
        foreach (int t in seq.OutputTokenIds)
        {
            seeded.AppendToken(t);
        }
        for (int i = 0; i < Draws; i++)
        {
            counts[sampler.Sample(seeded, (float[])logits.Clone(), out _)]++;
        }
        for (int i = 0; i < logits.Length; i++)
        {
            double f = (double)counts[i] / Draws;
            double tolerance = 5 * Math.Sqrt(expected[i] * (1 - expected[i]) / Draws) + 1e-9;
            Assert.True(Math.Abs(f - expected[i]) <= tolerance, $"token {i}: frequency {f:F4}, expected {expected[i]:F4}");
        }
    }

    private static double[] Softmax(double[] x)
    {
        double max = x.Max();
        double[] e = x.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    private static float[] RandomLogits(Random rng, int n, float scale) =>
        Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
}
