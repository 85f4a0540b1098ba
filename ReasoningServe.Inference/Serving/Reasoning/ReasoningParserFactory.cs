using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Inference.Serving.Reasoning;

/// <summary>Builds the parser named by --reasoning-parser, with its tags resolved to single token ids of the model's vocabulary.</summary>
internal static class ReasoningParserFactory
{
    public static IReadOnlyList<string> Names { get; } = ["deepseek_r1", "qwen3"];

    public static IReasoningParser Create(string name, Tokenizer tokenizer) =>
        Create(name, tokenizer.TokenToId(ThinkTagReasoningParser.StartTag), tokenizer.TokenToId(ThinkTagReasoningParser.EndTag));

    public static IReasoningParser Create(string name, int? startTokenId, int? endTokenId)
    {
        if (!Names.Contains(name))
        {
            throw new ArgumentException(
                $"Unknown reasoning parser '{name}'. Available: {string.Join(", ", Names)}.", nameof(name));
        }
        if (startTokenId is not int start || endTokenId is not int end)
        {
            throw new InvalidOperationException(
                $"Reasoning parser '{name}' needs '{ThinkTagReasoningParser.StartTag}' and '{ThinkTagReasoningParser.EndTag}' " +
                "as single tokens, but the model's tokenizer does not have them.");
        }
        return name == "qwen3" ? new Qwen3ReasoningParser(start, end) : new DeepSeekR1ReasoningParser(start, end);
    }
}
