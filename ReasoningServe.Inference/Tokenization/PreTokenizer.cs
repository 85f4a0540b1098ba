using System.Text.Json;
using System.Text.RegularExpressions;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// tokenizer.json's pre_tokenizer: a chain of regex splits (behaviour "Isolated": every match and every gap between
/// matches becomes its own piece) ending in ByteLevel, which may add a leading space and split with GPT-2's regex.
/// </summary>
internal sealed class PreTokenizer
{
    // GPT-2's split, used by a ByteLevel pre-tokenizer with use_regex: true.
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    // Applied in order; ByteLevel's add_prefix_space prepends a space to every piece that reaches it.
    private readonly List<(bool PrefixSpace, Regex? Regex)> _stages = [];

    private PreTokenizer()
    {
    }

    public static PreTokenizer FromJson(JsonElement element, string file)
    {
        var pre = new PreTokenizer();
        pre.Add(element, file);
        return pre;
    }

    /// <summary>Splits normalized text into the words BPE runs on.</summary>
    public List<string> Split(string text)
    {
        var pieces = new List<string> { text };
        foreach (var (prefixSpace, regex) in _stages)
        {
            var next = new List<string>(pieces.Count * 2);
            foreach (string original in pieces)
            {
                string piece = prefixSpace && !original.StartsWith(' ') ? " " + original : original;
                if (regex is null)
                {
                    next.Add(piece);
                    continue;
                }
                SplitIsolated(regex, piece, next);
            }
            pieces = next;
        }
        return pieces;
    }

    /// <summary>Every match and every gap between matches becomes a piece.</summary>
    private static void SplitIsolated(Regex regex, string piece, List<string> output)
    {
        // .NET regexes see a supplementary character as two surrogates (category Cs), where the Oniguruma patterns of
        // tokenizer.json see one code point (an emoji is \p{So}). Match over a stand-in string with one same-category BMP
        // character per code point, then map the positions back.
        int[]? offsets = null;
        string subject = piece;
        if (piece.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0)
        {
            (subject, offsets) = CodePointStandIns.Map(piece);
        }
        int last = 0;
        for (Match m = regex.Match(subject); m.Success; m = m.NextMatch())
        {
            if (m.Length == 0)
            {
                continue;
            }
            int start = offsets is null ? m.Index : offsets[m.Index];
            int end = offsets is null ? m.Index + m.Length : offsets[m.Index + m.Length];
            if (start > last)
            {
                output.Add(piece[last..start]);
            }
            output.Add(piece[start..end]);
            last = end;
        }
        if (last < piece.Length)
        {
            output.Add(piece[last..]);
        }
    }

    private void Add(JsonElement element, string file)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return;
        }
        string type = element.GetProperty("type").GetString() ?? "";
        switch (type)
        {
            case "Sequence":
                foreach (JsonElement child in element.GetProperty("pretokenizers").EnumerateArray())
                {
                    Add(child, file);
                }
                break;
            case "Split":
                string behavior = element.GetProperty("behavior").GetString() ?? "";
                bool invert = element.TryGetProperty("invert", out JsonElement inv) && inv.GetBoolean();
                if (behavior != "Isolated" || invert)
                {
                    throw Unsupported(file, $"Split with behavior {behavior} and invert {invert}");
                }
                JsonElement pattern = element.GetProperty("pattern");
                string regex = pattern.TryGetProperty("Regex", out JsonElement r)
                    ? r.GetString()!
                    : Regex.Escape(pattern.GetProperty("String").GetString()!);
                _stages.Add((false, new Regex(regex, RegexOptions.Compiled | RegexOptions.CultureInvariant)));
                break;
            case "ByteLevel":
                bool prefixSpace = element.TryGetProperty("add_prefix_space", out JsonElement aps) && aps.GetBoolean();
                bool useRegex = !element.TryGetProperty("use_regex", out JsonElement ur) || ur.GetBoolean();
                _stages.Add((prefixSpace,
                    useRegex ? new Regex(Gpt2Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant) : null));
                break;
            default:
                throw Unsupported(file, $"pre_tokenizer type {type}");
        }
    }

    private static InvalidDataException Unsupported(string file, string what) =>
        new($"{file}: {what} is not supported (ReasoningServe reads byte-level BPE tokenizers).");
}
