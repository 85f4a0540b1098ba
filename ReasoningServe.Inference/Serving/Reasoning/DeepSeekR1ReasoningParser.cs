namespace ReasoningServe.Inference.Serving.Reasoning;

/// <summary>
/// deepseek_r1: everything before &lt;/think&gt; is reasoning, whether or not &lt;think&gt; was generated (R1 templates end
/// the prompt with it). Output cut off before &lt;/think&gt; stays reasoning.
/// </summary>
internal sealed class DeepSeekR1ReasoningParser(int startTokenId, int endTokenId)
    : ThinkTagReasoningParser(startTokenId, endTokenId)
{
    public override string Name => "deepseek_r1";

    protected override ReasoningSplit WithoutEndTag(string body, bool thinkingEnabled) => new(body, null);

    public override ReasoningStream StartStream() => new Stream(StartTokenId, EndTokenId);

    private sealed class Stream(int startId, int endId) : ReasoningStream
    {
        protected override int StartId => startId;
        protected override int EndId => endId;

        protected override ReasoningDelta Classify(ReadOnlySpan<int> deltaIds, string deltaText)
        {
            if (deltaIds.Length == 1 && (deltaIds[0] == startId || deltaIds[0] == endId))
            {
                return default;
            }
            var endInDelta = deltaIds.Contains(endId);
            if (!StartSeen && deltaIds.Contains(startId))
            {
                var afterStart = AfterStartTag(deltaText);
                return endInDelta ? SplitAtEnd(afterStart) : ReasoningDelta.Of(afterStart, null);
            }
            if (endInDelta)
            {
                return SplitAtEnd(deltaText);
            }
            return EndSeen ? ReasoningDelta.Of(null, deltaText) : ReasoningDelta.Of(deltaText, null);
        }
    }
}
