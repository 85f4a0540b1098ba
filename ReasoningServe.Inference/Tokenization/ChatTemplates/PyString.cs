using System.Text;

namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>Python str semantics: code-point indexing and the str methods chat templates call.</summary>
internal static class PyString
{
    public static bool HasSurrogates(string s) => s.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0;

    public static int Length(string s) => HasSurrogates(s) ? s.EnumerateRunes().Count() : s.Length;

    public static IReadOnlyList<object?> Characters(string s)
    {
        var result = new List<object?>(s.Length);
        foreach (Rune r in s.EnumerateRunes())
        {
            result.Add(r.ToString());
        }

        return result;
    }

    public static string? CharAt(string s, long index)
    {
        if (!HasSurrogates(s))
        {
            if (index < 0)
            {
                index += s.Length;
            }

            return index >= 0 && index < s.Length ? s[(int)index].ToString() : null;
        }

        IReadOnlyList<object?> chars = Characters(s);
        if (index < 0)
        {
            index += chars.Count;
        }

        return index >= 0 && index < chars.Count ? (string?)chars[(int)index] : null;
    }

    /// <summary>str.strip/lstrip/rstrip: whitespace when chars is None, otherwise any of the given characters.</summary>
    public static string Strip(string s, string? chars, bool left, bool right)
    {
        int start = 0;
        int end = s.Length;
        if (left)
        {
            while (start < end && IsStripped(s[start], chars))
            {
                start++;
            }
        }

        if (right)
        {
            while (end > start && IsStripped(s[end - 1], chars))
            {
                end--;
            }
        }

        return start == 0 && end == s.Length ? s : s[start..end];
    }

    private static bool IsStripped(char c, string? chars) => chars is null ? IsSpace(c) : chars.Contains(c);

    /// <summary>Python's str.isspace for one character (includes the \x1c-\x1f separators .NET also counts).</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    /// <summary>str.split(sep=None, maxsplit=-1).</summary>
    public static List<object?> Split(string s, string? sep, long maxSplit)
    {
        var parts = new List<object?>();
        if (sep is null)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && IsSpace(s[i]))
                {
                    i++;
                }

                if (i >= s.Length)
                {
                    break;
                }

                if (maxSplit >= 0 && parts.Count >= maxSplit)
                {
                    parts.Add(Strip(s[i..], null, left: false, right: true));
                    break;
                }

                int start = i;
                while (i < s.Length && !IsSpace(s[i]))
                {
                    i++;
                }

                parts.Add(s[start..i]);
            }

            return parts;
        }

        if (sep.Length == 0)
        {
            throw new ChatTemplateException("empty separator");
        }

        int pos = 0;
        while (maxSplit < 0 || parts.Count < maxSplit)
        {
            int next = s.IndexOf(sep, pos, StringComparison.Ordinal);
            if (next < 0)
            {
                break;
            }

            parts.Add(s[pos..next]);
            pos = next + sep.Length;
        }

        parts.Add(s[pos..]);
        return parts;
    }

    /// <summary>str.rsplit(sep, maxsplit) for an explicit separator.</summary>
    public static List<object?> RSplit(string s, string? sep, long maxSplit)
    {
        if (sep is null || maxSplit < 0)
        {
            return Split(s, sep, maxSplit);
        }

        var parts = new List<object?>();
        int end = s.Length;
        while (parts.Count < maxSplit)
        {
            int at = end - sep.Length < 0 ? -1 : s.LastIndexOf(sep, end - 1, StringComparison.Ordinal);
            if (at < 0 || at + sep.Length > end)
            {
                break;
            }

            parts.Add(s[(at + sep.Length)..end]);
            end = at;
        }

        parts.Add(s[..end]);
        parts.Reverse();
        return parts;
    }

    public static List<object?> SplitLines(string s, bool keepEnds)
    {
        var lines = new List<object?>();
        int start = 0;
        int i = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')
            {
                int eol = i;
                i += c == '\r' && i + 1 < s.Length && s[i + 1] == '\n' ? 2 : 1;
                lines.Add(keepEnds ? s[start..i] : s[start..eol]);
                start = i;
            }
            else
            {
                i++;
            }
        }

        if (start < s.Length)
        {
            lines.Add(s[start..]);
        }

        return lines;
    }

    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0)
        {
            return old.Length == 0 ? ReplaceEmpty(s, replacement, long.MaxValue) : s.Replace(old, replacement, StringComparison.Ordinal);
        }

        if (old.Length == 0)
        {
            return ReplaceEmpty(s, replacement, count);
        }

        var sb = new StringBuilder();
        int pos = 0;
        for (long n = 0; n < count; n++)
        {
            int at = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (at < 0)
            {
                break;
            }

            sb.Append(s, pos, at - pos).Append(replacement);
            pos = at + old.Length;
        }

        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    private static string ReplaceEmpty(string s, string replacement, long count)
    {
        var sb = new StringBuilder();
        long n = 0;
        foreach (Rune r in s.EnumerateRunes())
        {
            if (n++ < count)
            {
                sb.Append(replacement);
            }

            sb.Append(r.ToString());
        }

        if (n < count)
        {
            sb.Append(replacement);
        }

        return sb.ToString();
    }

    public static string Upper(string s) => s.ToUpperInvariant();

    public static string Lower(string s) => s.ToLowerInvariant();

    /// <summary>str.capitalize: first character upper case, the rest lower case.</summary>
    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    /// <summary>str.title: a letter after a non-letter is upper case, other letters lower case.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            bool letter = char.IsLetter(c);
            sb.Append(letter ? (previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)) : c);
            previousCased = letter;
        }

        return sb.ToString();
    }

    public static bool StartsOrEndsWith(string s, object? affix, bool start)
    {
        if (affix is PyTuple t)
        {
            foreach (object? item in t)
            {
                if (StartsOrEndsWith(s, item, start))
                {
                    return true;
                }
            }

            return false;
        }

        if (affix is not string a)
        {
            throw new ChatTemplateException(
                $"{(start ? "startswith" : "endswith")} first arg must be str or a tuple of str, not {PyOps.TypeName(affix)}");
        }

        return start ? s.StartsWith(a, StringComparison.Ordinal) : s.EndsWith(a, StringComparison.Ordinal);
    }

    public static bool All(string s, Func<char, bool> predicate)
    {
        if (s.Length == 0)
        {
            return false;
        }

        foreach (char c in s)
        {
            if (!predicate(c))
            {
                return false;
            }
        }

        return true;
    }

    public static string Center(string s, int width, string fill = " ")
    {
        int len = Length(s);
        if (width <= len)
        {
            return s;
        }

        int total = width - len;
        int left = (total / 2) + (total & width & 1);
        return new StringBuilder().Insert(0, fill, left).Append(s).Insert(left + s.Length, fill, total - left).ToString();
    }
}
