namespace ReasoningServe.Inference.Serving.Reasoning;

/// <summary>
/// Shared ground of the &lt;think&gt;…&lt;/think&gt; parsers: tag ids from the vocabulary, the non-streaming split and the
/// token accounting. Subclasses differ in what a missing end tag means and in how streamed deltas are classified.
/// </summary>
internal abstract class ThinkTagReasoningParser : IReasoningParser
{
    public const string StartTag = "<think>";
    public const string EndTag = "</think>";

    protected ThinkTagReasoningParser(int startTokenId, int endTokenId)
    {
        StartTokenId = startTokenId;
        EndTokenId = endTokenId;
    }

    public abstract string Name { get; }
    public int StartTokenId { get; }
    public int EndTokenId { get; }

    public bool IsReasoningEnd(ReadOnlySpan<int> tokenIds)
    {
        for (var i = tokenIds.Length - 1; i >= 0; i--)
        {
            if (tokenIds[i] == StartTokenId)
            {
                return false;
            }
            if (tokenIds[i] == EndTokenId)
            {
                return true;
            }
        }
        return false;
    }

    public ReasoningSplit Extract(string output, bool thinkingEnabled)
    {
        // A generated start tag (older templates let the model open the section) is dropped with anything before it.
        var start = output.IndexOf(StartTag, StringComparison.Ordinal);
        var body = start >= 0 ? output[(start + StartTag.Length)..] : output;
        var end = body.IndexOf(EndTag, StringComparison.Ordinal);
        if (end < 0)
        {
            return WithoutEndTag(body, thinkingEnabled);
        }
        var content = body[(end + EndTag.Length)..];
        return new ReasoningSplit(body[..end], content.Length == 0 ? null : content);
    }

    /// <summary>The split when the end tag never came: cut off mid-thought (reasoning) or not thinking at all (content).</summary>
    protected abstract ReasoningSplit WithoutEndTag(string body, bool thinkingEnabled);

    public abstract ReasoningStream StartStream();

    public int CountReasoningTokens(ReadOnlySpan<int> outputIds, bool thinkingEnabled)
    {
        var end = outputIds.IndexOf(EndTokenId);
        if (end < 0 && WithoutEndTag(string.Empty, thinkingEnabled).Reasoning is null)
        {
            return 0;
        }
        var reasoning = end < 0 ? outputIds : outputIds[..end];
        return reasoning.Length - CountOf(reasoning, StartTokenId);
    }

    private static int CountOf(ReadOnlySpan<int> ids, int id)
    {
        var count = 0;
        foreach (var t in ids)
        {
            if (t == id)
            {
                count++;
            }
        }
        return count;
    }

    /// <summary>Splits text at the end tag; when the tag's id came without its text (e.g. skipped on decode), all of it is reasoning.</summary>
    protected static ReasoningDelta SplitAtEnd(string text)
    {
        var end = text.IndexOf(EndTag, StringComparison.Ordinal);
        return end < 0
            ? ReasoningDelta.Of(text, null)
            : ReasoningDelta.Of(text[..end], text[(end + EndTag.Length)..]);
    }

    /// <summary>The text after the start tag, as the non-streaming split drops everything up to and including it.</summary>
    protected static string AfterStartTag(string text)
    {
        var start = text.IndexOf(StartTag, StringComparison.Ordinal);
        return start < 0 ? text : text[(start + StartTag.Length)..];
    }
}
