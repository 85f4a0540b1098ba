using System.Text;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// Turns a stream of token ids into text deltas with the same result as decoding all ids at once: the tokens' bytes go
/// through one stateful UTF-8 decoder, which holds back a character's first bytes until its last byte arrives and turns
/// invalid bytes into U+FFFD exactly as a one-shot decode does. O(1) per token.
/// </summary>
internal sealed class IncrementalDetokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly Decoder _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly StringBuilder _text = new();
    private char[] _chars = new char[64];

    public IncrementalDetokenizer(Tokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Adds one token; returns the text that became complete (possibly empty).</summary>
    public string Add(int tokenId)
    {
        if (_tokenizer.TokenBytes(tokenId, _skipSpecialTokens) is not { } bytes)
        {
            return "";
        }
        int needed = _decoder.GetCharCount(bytes, flush: false);
        if (needed > _chars.Length)
        {
            _chars = new char[Math.Max(needed, _chars.Length * 2)];
        }
        int count = _decoder.GetChars(bytes, _chars, flush: false);
        if (count == 0)
        {
            return "";
        }
        _text.Append(_chars, 0, count);
        return new string(_chars, 0, count);
    }

    /// <summary>All text emitted so far.</summary>
    public string Text => _text.ToString();
}
