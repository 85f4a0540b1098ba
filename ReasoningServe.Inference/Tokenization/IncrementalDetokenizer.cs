namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// Turns a stream of token ids into text deltas, never emitting half a UTF-8 character and producing the same text
/// as decoding all ids at once (HF decode semantics, including byte-level merges across tokens).
/// </summary>
internal sealed class IncrementalDetokenizer
{
    public IncrementalDetokenizer(Tokenizer tokenizer, bool skipSpecialTokens) => throw new NotImplementedException();

    /// <summary>Adds one token; returns the text that became complete (possibly empty).</summary>
    public string Add(int tokenId) => throw new NotImplementedException();

    /// <summary>All text emitted so far.</summary>
    public string Text => throw new NotImplementedException();
}
