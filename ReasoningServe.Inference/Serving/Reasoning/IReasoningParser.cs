namespace ReasoningServe.Inference.Serving.Reasoning;

/// <summary>
/// Splits generated text into reasoning and content around think tags that the tokenizer knows as single tokens.
/// One parser per served model; per-choice streaming state lives in the <see cref="ReasoningStream"/> it creates.
/// </summary>
internal interface IReasoningParser
{
    string Name { get; }
    int StartTokenId { get; }
    int EndTokenId { get; }

    /// <summary>True when the last think tag in <paramref name="tokenIds"/> is the end tag (vLLM's is_reasoning_end).</summary>
    bool IsReasoningEnd(ReadOnlySpan<int> tokenIds);

    /// <summary>Splits a whole output. Either part is null when absent; reasoning may be "" when the output opens with the end tag.</summary>
    ReasoningSplit Extract(string output, bool thinkingEnabled);

    /// <summary>A fresh state machine for one choice's stream of (token ids, text) deltas.</summary>
    ReasoningStream StartStream();

    /// <summary>How many generated tokens belong to the reasoning (tags excluded), for usage.reasoning_tokens.</summary>
    int CountReasoningTokens(ReadOnlySpan<int> outputIds, bool thinkingEnabled);
}

internal readonly record struct ReasoningSplit(string? Reasoning, string? Content);

/// <summary>What one streamed delta contributes; both null when the delta was only a tag.</summary>
internal readonly record struct ReasoningDelta(string? Reasoning, string? Content)
{
    public bool IsEmpty => Reasoning is null && Content is null;

    public static ReasoningDelta Of(string? reasoning, string? content) =>
        new(string.IsNullOrEmpty(reasoning) ? null : reasoning, string.IsNullOrEmpty(content) ? null : content);
}

/// <summary>Per-choice streaming state: which think tags the earlier deltas of this choice contained.</summary>
internal abstract class ReasoningStream
{
    protected bool StartSeen { get; private set; }
    protected bool EndSeen { get; private set; }

    /// <summary>Classifies one delta. The delta's ids decide where tags are; its text decides where to cut.</summary>
    public ReasoningDelta Next(ReadOnlySpan<int> deltaIds, string deltaText)
    {
        var result = Classify(deltaIds, deltaText);
        StartSeen |= deltaIds.Contains(StartId);
        EndSeen |= deltaIds.Contains(EndId);
        return result;
    }

    protected abstract int StartId { get; }
    protected abstract int EndId { get; }
    protected abstract ReasoningDelta Classify(ReadOnlySpan<int> deltaIds, string deltaText);
}
