using ReasoningServe.Inference.Serving.Reasoning;

namespace ReasoningServe.Inference.Serving;

/// <summary>
/// How one chat request's output divides into reasoning and content. When the prompt already closed the think
/// section (Qwen3 with enable_thinking=false) or no parser is configured, everything is content, as in vLLM.
/// </summary>
internal sealed class ChoiceReasoning
{
    private readonly IReasoningParser? _parser;
    private readonly bool _thinkingEnabled;
    private readonly bool _includeReasoning;

    public ChoiceReasoning(IReasoningParser? parser, ReadOnlySpan<int> promptTokenIds, bool thinkingEnabled, bool includeReasoning)
    {
        _parser = parser is not null && !parser.IsReasoningEnd(promptTokenIds) ? parser : null;
        _thinkingEnabled = thinkingEnabled;
        _includeReasoning = includeReasoning;
    }

    public ReasoningSplit Split(string text)
    {
        if (_parser is null)
        {
            return new ReasoningSplit(null, text);
        }
        var split = _parser.Extract(text, _thinkingEnabled);
        return _includeReasoning ? split : split with { Reasoning = null };
    }

    public ReasoningStream? StartStream() => _parser?.StartStream();

    public ReasoningDelta Next(ReasoningStream? stream, ReadOnlySpan<int> deltaIds, string deltaText)
    {
        if (stream is null)
        {
            return ReasoningDelta.Of(null, deltaText);
        }
        var delta = stream.Next(deltaIds, deltaText);
        return _includeReasoning ? delta : delta with { Reasoning = null };
    }

    public int CountReasoningTokens(ReadOnlySpan<int> outputIds) =>
        _parser?.CountReasoningTokens(outputIds, _thinkingEnabled) ?? 0;
}
