namespace ReasoningServe.Inference.Tokenization;

/// <summary>One entry of tokenizer.json's added_tokens.</summary>
internal sealed record AddedToken(int Id, string Content, bool Special, bool LStrip, bool RStrip);

/// <summary>
/// Cuts added tokens (special or not) out of text before normalization and BPE, as HF's added vocabulary does: at each
/// position the longest token that starts there wins (leftmost-longest); lstrip/rstrip swallow adjacent whitespace.
/// </summary>
internal sealed class AddedTokens
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar;

    public AddedTokens(IEnumerable<AddedToken> tokens)
    {
        _byFirstChar = tokens
            .Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    /// <summary>Splits text into (plain text, null) and (token text, token) segments in order.</summary>
    public List<(string Text, AddedToken? Token)> Split(string text)
    {
        var segments = new List<(string, AddedToken?)>();
        int plainStart = 0;
        int i = 0;
        while (i < text.Length)
        {
            AddedToken? match = MatchAt(text, i);
            if (match is null)
            {
                i++;
                continue;
            }
            int plainEnd = i;
            if (match.LStrip)
            {
                while (plainEnd > plainStart && char.IsWhiteSpace(text[plainEnd - 1]))
                {
                    plainEnd--;
                }
            }
            if (plainEnd > plainStart)
            {
                segments.Add((text[plainStart..plainEnd], null));
            }
            segments.Add((match.Content, match));
            i += match.Content.Length;
            if (match.RStrip)
            {
                while (i < text.Length && char.IsWhiteSpace(text[i]))
                {
                    i++;
                }
            }
            plainStart = i;
        }
        if (plainStart < text.Length)
        {
            segments.Add((text[plainStart..], null));
        }
        return segments;
    }

    private AddedToken? MatchAt(string text, int at)
    {
        if (!_byFirstChar.TryGetValue(text[at], out AddedToken[]? candidates))
        {
            return null;
        }
        foreach (AddedToken token in candidates)
        {
            if (string.CompareOrdinal(text, at, token.Content, 0, token.Content.Length) == 0
                && at + token.Content.Length <= text.Length)
            {
                return token;
            }
        }
        return null;
    }
}
