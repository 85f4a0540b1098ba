using ReasoningServe.Inference.Engine;

namespace ReasoningServe.Tests.Engine;

/// <summary>The whole engine on the real CPU backend and the tiny Qwen3 golden model.</summary>
public class LLMEngineTests(TinyModel model) : IClassFixture<TinyModel>
{
    private static readonly SamplingParams Greedy = new() { Temperature = 0, MaxTokens = 12, IgnoreEos = true };

    [Fact]
    public void Concurrent_requests_with_chunked_prefill_and_preemption_decode_exactly_as_each_request_alone()
    {
        var rng = new Random(17);
        int[] lengths = [5, 90, 33, 140, 17, 48, 3, 70, 120, 9];
        List<EngineRequest> requests = lengths
            .Select((len, i) => new EngineRequest($"r{i}", RandomPrompt(rng, len), Greedy with { MaxTokens = 10 + i }))
            .ToList();
        // Shared prompts: a copy of another request's prompt and a two-choice request, both served partly from the prefix cache.
        requests.Add(new EngineRequest("copy", requests[3].PromptTokenIds, Greedy with { MaxTokens = 7 }));
        requests.Add(new EngineRequest("two", requests[7].PromptTokenIds, Greedy with { N = 2, MaxTokens = 9 }));

        // 18 blocks hold 288 tokens: far fewer than the requests need together, so sequences get preempted; a budget of
        // 64 tokens per step splits every longer prompt into chunks.
        var tight = new EngineOptions { MaxModelLen = 256, MaxNumBatchedTokens = 64, MaxNumSeqs = 8, NumKvBlocks = 18 };
        LLMEngine engine = model.Engine(tight);
        foreach (EngineRequest r in requests)
        {
            engine.AddRequest(r);
        }
        List<RequestOutput> outputs = RunOutputs(engine);
        Assert.True(engine.Stats.NumPreemptions > 0, "the KV cache was meant to be too small for all requests at once");
        Assert.True(engine.Stats.PrefixCacheHits > 0, "the shared prompts were meant to hit the prefix cache");
        Assert.Equal(18, engine.Stats.NumFreeBlocks);

        var roomy = new EngineOptions { MaxModelLen = 256, MaxNumBatchedTokens = 1024, NumKvBlocks = 64, EnablePrefixCaching = false };
        foreach (EngineRequest r in requests)
        {
            LLMEngine alone = model.Engine(roomy);
            alone.AddRequest(r);
            List<int> expected = Tokens(RunOutputs(alone), 0);
            Assert.Equal(r.Params.MaxTokens, expected.Count);
            for (int choice = 0; choice < r.Params.N; choice++)
            {
                Assert.Equal(expected, Tokens(outputs.Where(o => o.RequestId == r.RequestId), choice));
            }
        }
    }

    [Fact]
    public void Greedy_tokens_are_the_same_picked_by_the_backend_or_by_the_sampler()
    {
        int[] prompt = RandomPrompt(new Random(11), 21);
        // Alone, every step is plain greedy: the backend picks the tokens (TryForwardGreedy).
        LLMEngine alone = model.Engine(new EngineOptions { MaxModelLen = 256, NumKvBlocks = 32 });
        alone.AddRequest(new EngineRequest("greedy", prompt, Greedy with { MaxTokens = 16 }));
        List<int> byBackend = Tokens(RunOutputs(alone), 0);

        // Beside a sampled request (and asking for logprobs), every step goes through the sampler instead.
        LLMEngine mixed = model.Engine(new EngineOptions { MaxModelLen = 256, NumKvBlocks = 32 });
        mixed.AddRequest(new EngineRequest("greedy", prompt, Greedy with { MaxTokens = 16, Logprobs = 1 }));
        mixed.AddRequest(new EngineRequest("sampled", RandomPrompt(new Random(12), 9),
            new SamplingParams { Temperature = 0.8f, Seed = 5, MaxTokens = 16, IgnoreEos = true }));
        List<int> bySampler = Tokens(RunOutputs(mixed).Where(o => o.RequestId == "greedy"), 0);

        Assert.Equal(16, byBackend.Count);
        Assert.Equal(byBackend, bySampler);
    }

    [Fact]
    public void Second_request_with_the_same_48_token_prompt_hits_32_cached_tokens_and_decodes_the_same()
    {
        int[] prompt = RandomPrompt(new Random(3), 48);
        LLMEngine engine = model.Engine(new EngineOptions { MaxModelLen = 256, NumKvBlocks = 32 });

        engine.AddRequest(new EngineRequest("first", prompt, Greedy));
        List<RequestOutput> first = RunOutputs(engine);
        engine.AddRequest(new EngineRequest("second", prompt, Greedy));
        List<RequestOutput> second = RunOutputs(engine);

        Assert.All(first, o => Assert.Equal(0, o.CachedTokenCount));
        // Three full blocks are cached, but one token must be computed for logits: (48 - 1) / 16 = 2 blocks.
        Assert.All(second, o => Assert.Equal(32, o.CachedTokenCount));
        Assert.All(second, o => Assert.Equal(48, o.PromptTokenCount));
        Assert.Equal(96, engine.Stats.PrefixCacheQueries);
        Assert.Equal(32, engine.Stats.PrefixCacheHits);
        Assert.Equal(Tokens(first, 0), Tokens(second, 0));
        Assert.Equal(32, engine.Stats.NumFreeBlocks);
    }

    [Fact]
    public void Aborting_requests_anywhere_in_their_life_returns_every_block()
    {
        var rng = new Random(8);
        LLMEngine engine = model.Engine(new EngineOptions { MaxModelLen = 256, MaxNumBatchedTokens = 32, NumKvBlocks = 24 });
        engine.AddRequest(new EngineRequest("decoding", RandomPrompt(rng, 20), Greedy with { MaxTokens = 100 }));
        engine.AddRequest(new EngineRequest("prefilling", RandomPrompt(rng, 100), Greedy));
        engine.AddRequest(new EngineRequest("n3", RandomPrompt(rng, 10), Greedy with { N = 3, MaxTokens = 100 }));
        for (int i = 0; i < 3; i++)
        {
            engine.Step();
        }
        Assert.True(engine.Stats.NumFreeBlocks < 24);

        Assert.True(engine.Abort("decoding"));
        Assert.True(engine.Abort("prefilling"));
        Assert.True(engine.Abort("n3"));
        Assert.False(engine.Abort("n3"));
        Assert.False(engine.HasUnfinished);
        Assert.Equal(24, engine.Stats.NumFreeBlocks);
        Assert.Equal(0, engine.Stats.NumRunning + engine.Stats.NumWaiting);
        Assert.Empty(engine.Step());
    }

    [Fact]
    public void Choice_i_of_a_seeded_request_samples_as_a_single_choice_request_seeded_s_plus_i()
    {
        var sampling = new SamplingParams { Temperature = 1.0f, TopP = 0.95f, MaxTokens = 16, IgnoreEos = true, N = 3, Seed = 1000 };
        int[] prompt = RandomPrompt(new Random(4), 21);
        var options = new EngineOptions { MaxModelLen = 128, NumKvBlocks = 32 };

        LLMEngine engine = model.Engine(options);
        engine.AddRequest(new EngineRequest("fan-out", prompt, sampling));
        engine.AddRequest(new EngineRequest("noise", RandomPrompt(new Random(5), 30), sampling with { Seed = null, N = 2 }));
        List<RequestOutput> outputs = RunOutputs(engine).Where(o => o.RequestId == "fan-out").ToList();
        Assert.True(outputs[^1].Finished);

        var choices = Enumerable.Range(0, 3).Select(i => Tokens(outputs, i)).ToList();
        for (int i = 0; i < 3; i++)
        {
            LLMEngine single = model.Engine(options);
            single.AddRequest(new EngineRequest($"single{i}", prompt, sampling with { N = 1, Seed = 1000 + i }));
            Assert.Equal(Tokens(RunOutputs(single), 0), choices[i]);
        }
        Assert.NotEqual(choices[0], choices[1]);
    }

    [Fact]
    public void Reaching_max_model_len_finishes_with_length()
    {
        LLMEngine engine = model.Engine(new EngineOptions { MaxModelLen = 40, NumKvBlocks = 4 });
        engine.AddRequest(new EngineRequest("r", RandomPrompt(new Random(6), 30), Greedy with { MaxTokens = null }));
        List<RequestOutput> outputs = RunOutputs(engine);
        Assert.Equal(10, Tokens(outputs, 0).Count);
        Assert.Equal("length", outputs[^1].Deltas[0].FinishReason);
        Assert.True(outputs[^1].Finished);
    }

    [Fact]
    public void Eos_finishes_a_greedy_request_when_the_model_produces_it()
    {
        // Find a prompt whose greedy continuation contains the EOS id (2) by forcing it through logit_bias.
        var sampling = Greedy with { IgnoreEos = false, LogitBias = new Dictionary<int, float> { [2] = 100f }, MinTokens = 3 };
        LLMEngine engine = model.Engine(new EngineOptions { MaxModelLen = 64, NumKvBlocks = 8 });
        engine.AddRequest(new EngineRequest("r", [5, 6, 7], sampling));
        List<RequestOutput> outputs = RunOutputs(engine);
        List<int> tokens = Tokens(outputs, 0);
        Assert.Equal(4, tokens.Count);
        Assert.Equal(2, tokens[^1]);
        Assert.DoesNotContain(2, tokens.Take(3));
        Assert.Equal("stop", outputs[^1].Deltas[0].FinishReason);
        Assert.Null(outputs[^1].Deltas[0].StopReason);
    }

    [Fact]
    public void Invalid_requests_are_rejected_before_they_reach_the_model()
    {
        LLMEngine engine = model.Engine(new EngineOptions { MaxModelLen = 64, NumKvBlocks = 8 });
        Assert.Throws<ArgumentException>(() => engine.AddRequest(new EngineRequest("empty", [], Greedy)));
        Assert.Throws<ArgumentException>(() => engine.AddRequest(new EngineRequest("long", new int[65], Greedy)));
        Assert.Throws<ArgumentException>(() => engine.AddRequest(new EngineRequest("vocab", [model.Config.VocabSize], Greedy)));
        engine.AddRequest(new EngineRequest("ok", [1], Greedy));
        Assert.Throws<ArgumentException>(() => engine.AddRequest(new EngineRequest("ok", [1], Greedy)));
    }

    [Fact]
    public void Logprobs_of_the_sampled_tokens_rank_the_greedy_choice_first()
    {
        LLMEngine engine = model.Engine(new EngineOptions { MaxModelLen = 64, NumKvBlocks = 8 });
        engine.AddRequest(new EngineRequest("r", [5, 9, 11, 40], Greedy with { Logprobs = 4 }));
        foreach (RequestOutput o in RunOutputs(engine))
        {
            TokenLogprob lp = Assert.Single(o.Deltas[0].Logprobs!);
            Assert.Equal(1, lp.Rank);
            Assert.Equal(lp.TokenId, lp.Top[0].TokenId);
            Assert.Equal(4, lp.Top.Count);
            Assert.True(lp.Logprob <= 0);
        }
    }

    internal static int[] RandomPrompt(Random rng, int length) =>
        Enumerable.Range(0, length).Select(_ => rng.Next(3, 512)).ToArray();

    internal static List<RequestOutput> RunOutputs(LLMEngine engine)
    {
        var outputs = new List<RequestOutput>();
        for (int guard = 0; engine.HasUnfinished; guard++)
        {
            Assert.True(guard < 10_000, "the engine stopped making progress");
            outputs.AddRange(engine.Step());
        }
        return outputs;
    }

    internal static List<int> Tokens(IEnumerable<RequestOutput> outputs, int choice) =>
        outputs.SelectMany(o => o.Deltas).Where(d => d.Index == choice).SelectMany(d => d.TokenIds).ToList();
}
