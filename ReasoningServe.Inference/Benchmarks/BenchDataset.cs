using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>One benchmark request: the prompt as token ids and as the text they decode to, and the tokens to ask for.</summary>
internal sealed record BenchPrompt(int[] TokenIds, string Text, int OutputLen);

/// <summary>
/// The workloads. random: vLLM's random dataset: input and output lengths drawn uniformly within ±range_ratio, each
/// prompt a run of consecutive ordinary vocabulary ids from a random offset, decoded and re-encoded until the text is
/// exactly that many tokens (<see cref="TokenExactText"/>). prefix: the same after one shared prefix of
/// --random-prefix-len tokens (what prefix caching is for). reasoning: short questions for chat with thinking on.
/// </summary>
internal static class BenchDataset
{
    /// <summary>The prompts of one run: <paramref name="count"/> of them, reproducible from <paramref name="seed"/>.</summary>
    public static List<BenchPrompt> Build(BenchOptions options, Tokenizer tokenizer, int count, int seed, TextWriter? log = null)
    {
        var rng = new Random(seed);
        return options.DatasetName == "reasoning" ? Reasoning(options, tokenizer, count, rng) : Random(options, tokenizer, count, rng, log);
    }

    /// <summary>Uniform within [floor(len·(1-r)), ceil(len·(1+r))], at least 1, as vLLM draws them.</summary>
    public static int DrawLength(Random rng, int length, double rangeRatio)
    {
        int low = Math.Max(1, (int)Math.Floor(length * (1 - rangeRatio)));
        int high = Math.Max(low, (int)Math.Ceiling(length * (1 + rangeRatio)));
        return rng.Next(low, high + 1);
    }

    private static List<BenchPrompt> Random(BenchOptions options, Tokenizer tokenizer, int count, Random rng, TextWriter? log)
    {
        var exact = new TokenExactText(tokenizer, rng);
        int[] prefix = [];
        string prefixText = "";
        if (options.RandomPrefixLen > 0)
        {
            (prefix, prefixText) = exact.Make(exact.RandomIds(options.RandomPrefixLen), options.RandomPrefixLen);
        }
        var prompts = new List<BenchPrompt>(count);
        for (int i = 0; i < count; i++)
        {
            int inputLen = DrawLength(rng, options.RandomInputLen, options.RandomRangeRatio);
            int outputLen = DrawLength(rng, options.RandomOutputLen, options.RandomRangeRatio);
            int offset = rng.Next(exact.OrdinaryCount);
            var (ids, text) = exact.After(prefix, prefixText, exact.ConsecutiveIds(offset + i, inputLen), inputLen);
            prompts.Add(new BenchPrompt(ids, text, outputLen));
        }
        if (exact.Mismatches > 0)
        {
            log?.WriteLine($"warning: {exact.Mismatches} prompts' text does not re-encode to their ids; token ids are sent as drawn.");
        }
        return prompts;
    }

    private static List<BenchPrompt> Reasoning(BenchOptions options, Tokenizer tokenizer, int count, Random rng)
    {
        var prompts = new List<BenchPrompt>(count);
        for (int i = 0; i < count; i++)
        {
            int a = rng.Next(0, 10000), b = rng.Next(0, 10000);
            string text = (i % 3) switch
            {
                0 => $"What is {a} + {b}?",
                1 => $"Is {a} divisible by {b % 97 + 2}? Explain.",
                _ => $"A train leaves at {a % 24}:00 and travels {b % 900 + 100} km at {a % 120 + 60} km/h. When does it arrive?",
            };
            prompts.Add(new BenchPrompt(tokenizer.Encode(text), text, DrawLength(rng, options.RandomOutputLen, options.RandomRangeRatio)));
        }
        return prompts;
    }
}
