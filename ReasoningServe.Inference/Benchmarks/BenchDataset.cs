using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>One benchmark request: a prompt as token ids (exact length) and text, and how many tokens to ask for.</summary>
internal sealed record BenchPrompt(int[] TokenIds, string Text, int OutputLen);

/// <summary>
/// The workloads: random token prompts of given lengths (vLLM's random dataset: lengths drawn uniformly within
/// ±range_ratio), a shared prefix of --random-prefix-len tokens before each random part (prefix caching), and reasoning
/// questions for chat with thinking on.
/// </summary>
internal static class BenchDataset
{
    public static List<BenchPrompt> Build(BenchOptions options, Tokenizer tokenizer)
    {
        var rng = new Random(options.Seed);
        int plainVocab = PlainVocabulary(tokenizer);
        return options.DatasetName switch
        {
            "reasoning" => Reasoning(options, rng, tokenizer),
            "prefix" => Random(options, rng, tokenizer, plainVocab, prefix: RandomIds(rng, Math.Max(1, options.RandomPrefixLen), plainVocab)),
            _ => Random(options, rng, tokenizer, plainVocab,
                prefix: options.RandomPrefixLen > 0 ? RandomIds(rng, options.RandomPrefixLen, plainVocab) : []),
        };
    }

    /// <summary>Uniform within [len·(1-r), len·(1+r)], at least 1, as vLLM draws them.</summary>
    public static int DrawLength(Random rng, int length, double rangeRatio)
    {
        int low = Math.Max(1, (int)Math.Floor(length * (1 - rangeRatio)));
        int high = Math.Max(low, (int)Math.Ceiling(length * (1 + rangeRatio)));
        return rng.Next(low, high + 1);
    }

    private static List<BenchPrompt> Random(BenchOptions options, Random rng, Tokenizer tokenizer, int plainVocab, int[] prefix)
    {
        var prompts = new List<BenchPrompt>(options.NumPrompts);
        for (int i = 0; i < options.NumPrompts; i++)
        {
            int inputLen = DrawLength(rng, options.RandomInputLen, options.RandomRangeRatio);
            int outputLen = DrawLength(rng, options.RandomOutputLen, options.RandomRangeRatio);
            int[] ids = [.. prefix, .. RandomIds(rng, inputLen, plainVocab)];
            prompts.Add(new BenchPrompt(ids, tokenizer.Decode(ids), outputLen));
        }
        return prompts;
    }

    private static List<BenchPrompt> Reasoning(BenchOptions options, Random rng, Tokenizer tokenizer)
    {
        var prompts = new List<BenchPrompt>(options.NumPrompts);
        for (int i = 0; i < options.NumPrompts; i++)
        {
            int a = rng.Next(0, 10000), b = rng.Next(0, 10000);
            string text = (i % 3) switch
            {
                0 => $"What is {a} + {b}?",
                1 => $"What is {a} - {b}?",
                _ => $"A train leaves at {a % 24}:00 and travels {b % 900 + 100} km at {a % 120 + 60} km/h. When does it arrive?",
            };
            prompts.Add(new BenchPrompt(tokenizer.Encode(text), text, DrawLength(rng, options.RandomOutputLen, options.RandomRangeRatio)));
        }
        return prompts;
    }

    private static int[] RandomIds(Random rng, int count, int plainVocab)
    {
        var ids = new int[count];
        for (int i = 0; i < count; i++)
        {
            ids[i] = rng.Next(plainVocab);
        }
        return ids;
    }

    /// <summary>Ids below the first added token: ordinary vocabulary, never a special or template token.</summary>
    private static int PlainVocabulary(Tokenizer tokenizer)
    {
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            if (tokenizer.IsAdded(id))
            {
                return id;
            }
        }
        return tokenizer.VocabSize;
    }
}
