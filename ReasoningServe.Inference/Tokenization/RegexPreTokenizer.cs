using System.Globalization;
using System.Text.RegularExpressions;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// The pre-tokenizer of a byte-level BPE tokenizer: a sequence of regex splits (HF `Split` with behavior Isolated or
/// Removed, and ByteLevel's own GPT-2 regex when use_regex is true), each applied to every piece the previous one
/// produced, so a later regex never sees across an earlier split.
/// </summary>
/// <remarks>
/// HF runs these patterns with Oniguruma over code points; .NET's Regex works on UTF-16 code units, where an astral
/// character is two surrogates of category Cs, so `\p{L}` would not match 𝐀 and `[^\r\n\p{L}\p{N}]?` could take half
/// of an emoji. When the text holds astral characters we therefore run the regexes over a stand-in string with one
/// BMP character per code point, chosen to have the same general category (and to lie outside every literal range the
/// patterns name), and map the match positions back.
/// </remarks>
internal sealed class RegexPreTokenizer
{
    /// <summary>GPT-2's pattern, used by the ByteLevel pre-tokenizer when use_regex is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly Regex[] _splits;
    private readonly bool[] _removeMatches;

    [ThreadStatic] private static List<(int Start, int Length)>? t_current;
    [ThreadStatic] private static List<(int Start, int Length)>? t_next;

    public RegexPreTokenizer(IReadOnlyList<(string Pattern, bool RemoveMatches)> splits)
    {
        _splits = new Regex[splits.Count];
        _removeMatches = new bool[splits.Count];
        for (int i = 0; i < splits.Count; i++)
        {
            _splits[i] = new Regex(splits[i].Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
            _removeMatches[i] = splits[i].RemoveMatches;
        }
    }

    public delegate void PieceHandler<TState>(ReadOnlySpan<char> piece, TState state);

    /// <summary>Splits text into pre-tokens and hands each one (as a span of the original text) to the callback.</summary>
    public void Split<TState>(ReadOnlySpan<char> text, TState state, PieceHandler<TState> onPiece)
    {
        if (text.IsEmpty)
        {
            return;
        }
        int[]? map = null;
        ReadOnlySpan<char> subject = text;
        if (text.IndexOfAnyInRange('\uD800', '\uDFFF') >= 0)
        {
            subject = BuildStandIn(text, out map);
        }

        var current = t_current ??= [];
        var next = t_next ??= [];
        current.Clear();
        current.Add((0, subject.Length));

        for (int s = 0; s < _splits.Length; s++)
        {
            next.Clear();
            foreach (var (start, length) in current)
            {
                var piece = subject.Slice(start, length);
                int last = 0;
                foreach (var match in _splits[s].EnumerateMatches(piece))
                {
                    if (match.Length == 0)
                    {
                        continue;
                    }
                    if (match.Index > last)
                    {
                        next.Add((start + last, match.Index - last));
                    }
                    if (!_removeMatches[s])
                    {
                        next.Add((start + match.Index, match.Length));
                    }
                    last = match.Index + match.Length;
                }
                if (last < length)
                {
                    next.Add((start + last, length - last));
                }
            }
            (current, next) = (next, current);
        }

        foreach (var (start, length) in current)
        {
            if (map is null)
            {
                onPiece(text.Slice(start, length), state);
            }
            else
            {
                int from = map[start];
                onPiece(text[from..map[start + length]], state);
            }
        }
        t_current = current;
        t_next = next;
    }

    /// <summary>One char per code point; astral code points become a BMP character of the same general category.
    /// map[i] is the index in the original text of stand-in char i (map[length] = text length).</summary>
    private static string BuildStandIn(ReadOnlySpan<char> text, out int[] map)
    {
        var chars = new char[text.Length];
        map = new int[text.Length + 1];
        int n = 0;
        for (int i = 0; i < text.Length; i++)
        {
            map[n] = i;
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                int cp = char.ConvertToUtf32(c, text[i + 1]);
                chars[n++] = StandInFor(CharUnicodeInfo.GetUnicodeCategory(cp));
                i++;
            }
            else
            {
                chars[n++] = c;
            }
        }
        map[n] = text.Length;
        return new string(chars, 0, n);
    }

    /// <summary>A BMP character of the given category that no pattern names literally (not ASCII, not whitespace,
    /// outside the CJK ranges DeepSeek's pattern lists).</summary>
    private static char StandInFor(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => '\u00C0',
        UnicodeCategory.LowercaseLetter => '\u00DF',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\u05D0',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.SpaceSeparator => '\u2000',
        UnicodeCategory.Format => '\u00AD',
        UnicodeCategory.PrivateUse => '\uE000',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '\u00A1',
        UnicodeCategory.MathSymbol => '\u00AC',
        UnicodeCategory.CurrencySymbol => '\u00A2',
        UnicodeCategory.ModifierSymbol => '\u00A8',
        UnicodeCategory.OtherSymbol => '\u00A6',
        _ => '\u0378', // unassigned
    };
}
