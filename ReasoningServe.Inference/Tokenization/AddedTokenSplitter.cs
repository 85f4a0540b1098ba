namespace ReasoningServe.Inference.Tokenization;

/// <summary>One entry of tokenizer.json's added_tokens.</summary>
internal sealed record AddedToken(int Id, string Content, bool Special, bool LStrip, bool RStrip, bool Normalized, bool SingleWord);

/// <summary>A run of text: either an added token (Id ≥ 0) or plain text to be tokenized further (Id = -1).</summary>
internal readonly record struct TextSegment(int Start, int Length, int Id);

/// <summary>
/// Finds added tokens in text the way HF's AddedVocabulary does: leftmost-longest matching over all token contents
/// (an Aho-Corasick automaton there, a character trie here), then single_word / lstrip / rstrip adjustments.
/// </summary>
internal sealed class AddedTokenSplitter
{
    private sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public AddedToken? Token;
    }

    private readonly Node _root = new();
    private readonly bool _empty = true;

    public AddedTokenSplitter(IEnumerable<AddedToken> tokens)
    {
        foreach (var token in tokens)
        {
            if (token.Content.Length == 0)
            {
                continue;
            }
            var node = _root;
            foreach (char c in token.Content)
            {
                node.Children ??= [];
                if (!node.Children.TryGetValue(c, out var child))
                {
                    child = new Node();
                    node.Children[c] = child;
                }
                node = child;
            }
            node.Token = token;
            _empty = false;
        }
    }

    /// <summary>Splits text[start..start+length] into segments that cover it exactly, in order.</summary>
    public void Split(string text, int start, int length, List<TextSegment> output)
    {
        int end = start + length;
        if (_empty || length == 0)
        {
            if (length > 0)
            {
                output.Add(new TextSegment(start, length, -1));
            }
            return;
        }

        int emitted = start; // everything before this is already in output
        int search = start;
        while (search < end)
        {
            if (!FindLeftmostLongest(text, search, end, out int matchStart, out var token))
            {
                break;
            }
            int matchEnd = matchStart + token.Content.Length;
            search = matchEnd;

            if (token.SingleWord)
            {
                bool wordBefore = matchStart > start && IsWordChar(text, matchStart - 1, before: true);
                bool wordAfter = matchEnd < end && IsWordChar(text, matchEnd, before: false);
                if (wordBefore || wordAfter)
                {
                    continue;
                }
            }

            int segStart = matchStart;
            int segEnd = matchEnd;
            if (token.LStrip)
            {
                while (segStart > emitted && char.IsWhiteSpace(text[segStart - 1]))
                {
                    segStart--;
                }
            }
            if (token.RStrip)
            {
                while (segEnd < end && char.IsWhiteSpace(text[segEnd]))
                {
                    segEnd++;
                }
                search = segEnd;
            }

            if (emitted < segStart)
            {
                output.Add(new TextSegment(emitted, segStart - emitted, -1));
            }
            output.Add(new TextSegment(segStart, segEnd - segStart, token.Id));
            emitted = segEnd;
        }
        if (emitted < end)
        {
            output.Add(new TextSegment(emitted, end - emitted, -1));
        }
    }

    private bool FindLeftmostLongest(string text, int from, int end, out int matchStart, out AddedToken token)
    {
        var rootChildren = _root.Children!;
        for (int i = from; i < end; i++)
        {
            if (!rootChildren.TryGetValue(text[i], out var node))
            {
                continue;
            }
            AddedToken? best = node.Token;
            for (int j = i + 1; j < end && node.Children is not null && node.Children.TryGetValue(text[j], out node); j++)
            {
                if (node.Token is not null)
                {
                    best = node.Token;
                }
            }
            if (best is not null)
            {
                matchStart = i;
                token = best;
                return true;
            }
        }
        matchStart = -1;
        token = null!;
        return false;
    }

    /// <summary>Rust regex's \w: alphanumeric, marks, connector punctuation (HF checks \w$ / ^\w).</summary>
    private static bool IsWordChar(string text, int index, bool before)
    {
        int cp = text[index];
        if (before && char.IsLowSurrogate(text[index]) && index > 0 && char.IsHighSurrogate(text[index - 1]))
        {
            cp = char.ConvertToUtf32(text[index - 1], text[index]);
        }
        else if (!before && char.IsHighSurrogate(text[index]) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]))
        {
            cp = char.ConvertToUtf32(text[index], text[index + 1]);
        }
        var category = System.Globalization.CharUnicodeInfo.GetUnicodeCategory(cp);
        return category switch
        {
            System.Globalization.UnicodeCategory.UppercaseLetter or System.Globalization.UnicodeCategory.LowercaseLetter
                or System.Globalization.UnicodeCategory.TitlecaseLetter or System.Globalization.UnicodeCategory.ModifierLetter
                or System.Globalization.UnicodeCategory.OtherLetter or System.Globalization.UnicodeCategory.NonSpacingMark
                or System.Globalization.UnicodeCategory.SpacingCombiningMark or System.Globalization.UnicodeCategory.EnclosingMark
                or System.Globalization.UnicodeCategory.DecimalDigitNumber or System.Globalization.UnicodeCategory.LetterNumber
                or System.Globalization.UnicodeCategory.OtherNumber or System.Globalization.UnicodeCategory.ConnectorPunctuation => true,
            _ => cp is 0x200C or 0x200D,
        };
    }
}
