using System.Text;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// Turns a stream of token ids into text deltas, never emitting half a UTF-8 character and producing the same text
/// as decoding all ids at once (HF decode semantics, including byte-level merges across tokens).
/// </summary>
/// <remarks>
/// Byte-level decoding is UTF-8 decoding of the concatenated token bytes, so we keep only the bytes of a trailing
/// character that is still incomplete (at most 3) and decode everything before it. Invalid bytes become U+FFFD as
/// soon as they are known to be invalid — exactly where the full decode puts them — because a UTF-8 lead byte always
/// ends any earlier incomplete sequence, so cutting before the last lead byte never changes how the prefix decodes.
/// Each Add is O(token length).
/// </remarks>
internal sealed class IncrementalDetokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly StringBuilder _text = new();
    private readonly byte[] _pending = new byte[64];
    private int _pendingCount;
    private byte[] _scratch = new byte[64];

    public IncrementalDetokenizer(Tokenizer tokenizer, bool skipSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Adds one token; returns the text that became complete (possibly empty).</summary>
    public string Add(int tokenId)
    {
        if (!_tokenizer.TryGetTokenBytes(tokenId, _skipSpecialTokens, out var bytes) || bytes.IsEmpty)
        {
            return "";
        }

        int total = _pendingCount + bytes.Length;
        if (_scratch.Length < total)
        {
            _scratch = new byte[Math.Max(total, _scratch.Length * 2)];
        }
        _pending.AsSpan(0, _pendingCount).CopyTo(_scratch);
        bytes.CopyTo(_scratch.AsSpan(_pendingCount));

        var all = _scratch.AsSpan(0, total);
        int complete = total - IncompleteTailLength(all);
        all[complete..].CopyTo(_pending);
        _pendingCount = total - complete;
        if (complete == 0)
        {
            return "";
        }

        string delta = Encoding.UTF8.GetString(all[..complete]);
        _text.Append(delta);
        return delta;
    }

    /// <summary>All text emitted so far.</summary>
    public string Text => _text.ToString();

    /// <summary>How many trailing bytes form the valid beginning of a character whose remaining bytes have not come
    /// yet (0 when the bytes end on a character boundary or in bytes already known to be invalid).</summary>
    internal static int IncompleteTailLength(ReadOnlySpan<byte> bytes)
    {
        // A character is at most 4 bytes, so an incomplete one starts within the last 3.
        for (int back = 1; back <= 3 && back <= bytes.Length; back++)
        {
            byte b = bytes[^back];
            if ((b & 0xC0) == 0x80)
            {
                continue; // continuation byte: the lead byte is further back
            }
            int needed = b switch
            {
                >= 0xC2 and <= 0xDF => 2,
                >= 0xE0 and <= 0xEF => 3,
                >= 0xF0 and <= 0xF4 => 4,
                _ => 1, // ASCII or a byte that can never start a character
            };
            if (back >= needed)
            {
                return 0; // that character is complete (or invalid, which decoding already settled)
            }
            // The second byte of E0, ED, F0 and F4 sequences has a narrower range; outside it the sequence is
            // already invalid and the full decode emits U+FFFD right there.
            if (back >= 2)
            {
                byte second = bytes[^(back - 1)];
                bool secondOk = b switch
                {
                    0xE0 => second >= 0xA0,
                    0xED => second <= 0x9F,
                    0xF0 => second >= 0x90,
                    0xF4 => second <= 0x8F,
                    _ => true,
                };
                if (!secondOk)
                {
                    return 0;
                }
            }
            return back;
        }
        return 0;
    }
}
