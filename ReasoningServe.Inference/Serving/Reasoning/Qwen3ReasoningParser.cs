namespace ReasoningServe.Inference.Serving.Reasoning;

/// <summary>
/// qwen3: like deepseek_r1 (output before &lt;/think&gt; is reasoning; a generated &lt;think&gt; is skipped), except that with
/// enable_thinking=false an output without &lt;/think&gt; is all content. The Qwen3 template closes the think section in the
/// prompt when thinking is off; the serving layer sees that through <see cref="IReasoningParser.IsReasoningEnd"/> and
/// routes every streamed delta to content.
/// </summary>
internal sealed class Qwen3ReasoningParser(int startTokenId, int endTokenId)
    : ThinkTagReasoningParser(startTokenId, endTokenId)
{
    public override string Name => "qwen3";

    protected override ReasoningSplit WithoutEndTag(string body, bool thinkingEnabled) =>
        thinkingEnabled ? new(body, null) : new(null, body);

    public override ReasoningStream StartStream() => new Stream(StartTokenId, EndTokenId);

    private sealed class Stream(int startId, int endId) : ReasoningStream
    {
        protected override int StartId => startId;
        protected override int EndId => endId;

        protected override ReasoningDelta Classify(ReadOnlySpan<int> deltaIds, string deltaText)
        {
            var text = deltaIds.Contains(startId) ? AfterStartTag(deltaText) : deltaText;
            if (deltaIds.Contains(endId))
            {
                return SplitAtEnd(text);
            }
            return EndSeen ? ReasoningDelta.Of(null, text) : ReasoningDelta.Of(text, null);
        }
    }
}
