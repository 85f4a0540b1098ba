using System.Globalization;
using System.Text;

namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>Python's str(), repr() and json.dumps() for template values, byte for byte.</summary>
internal static class PyFormat
{
    /// <summary>str(value); Undefined prints as the empty string as in Jinja.</summary>
    public static string Str(object? value) => value switch
    {
        string s => s,
        null => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        int i => i.ToString(CultureInfo.InvariantCulture),
        double d => FloatRepr(d),
        float f => FloatRepr(f),
        JinjaUndefined => "",
        _ => Repr(value),
    };

    public static void AppendStr(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case string s:
                sb.Append(s);
                break;
            case long l:
                sb.Append(l);
                break;
            case JinjaUndefined:
                break;
            default:
                sb.Append(Str(value));
                break;
        }
    }

    public static string Repr(object? value)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, value);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case string s:
                AppendStringRepr(sb, s);
                break;
            case PyTuple t:
                sb.Append('(');
                for (int i = 0; i < t.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }

                    AppendRepr(sb, t[i]);
                }

                sb.Append(t.Count == 1 ? ",)" : ")");
                break;
            case PyRange r:
                sb.Append("range(").Append(r.Start).Append(", ").Append(r.Stop);
                if (r.Step != 1)
                {
                    sb.Append(", ").Append(r.Step);
                }

                sb.Append(')');
                break;
            case IReadOnlyDictionary<string, object?> d:
                sb.Append('{');
                bool first = true;
                foreach (KeyValuePair<string, object?> kv in d)
                {
                    if (!first)
                    {
                        sb.Append(", ");
                    }

                    first = false;
                    AppendStringRepr(sb, kv.Key);
                    sb.Append(": ");
                    AppendRepr(sb, kv.Value);
                }

                sb.Append('}');
                break;
            case IReadOnlyList<object?> list:
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }

                    AppendRepr(sb, list[i]);
                }

                sb.Append(']');
                break;
            case JinjaNamespace ns:
                sb.Append("<Namespace ");
                AppendRepr(sb, ns.Attributes);
                sb.Append('>');
                break;
            case JinjaUndefined:
                sb.Append("Undefined");
                break;
            case JinjaFunction f:
                sb.Append("<function ").Append(f.Name).Append('>');
                break;
            case LoopContext:
                sb.Append("<LoopContext>");
                break;
            default:
                sb.Append(Str(value));
                break;
        }
    }

    /// <summary>repr(str): single quotes unless the text has ' and no ", escapes for non-printable characters.</summary>
    private static void AppendStringRepr(StringBuilder sb, string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        foreach (Rune r in s.EnumerateRunes())
        {
            int c = r.Value;
            if (c == quote || c == '\\')
            {
                sb.Append('\\').Append((char)c);
            }
            else if (c == '\n')
            {
                sb.Append("\\n");
            }
            else if (c == '\r')
            {
                sb.Append("\\r");
            }
            else if (c == '\t')
            {
                sb.Append("\\t");
            }
            else if (c < 0x20 || c == 0x7f)
            {
                sb.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            }
            else if (c < 0x7f || IsPrintable(r))
            {
                sb.Append(r.ToString());
            }
            else if (c <= 0xff)
            {
                sb.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            }
            else if (c <= 0xffff)
            {
                sb.Append("\\u").Append(c.ToString("x4", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append("\\U").Append(c.ToString("x8", CultureInfo.InvariantCulture));
            }
        }

        sb.Append(quote);
    }

    /// <summary>Python's str.isprintable for one code point: everything but separators (except space) and "other".</summary>
    private static bool IsPrintable(Rune r) => Rune.GetUnicodeCategory(r) switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => false,
        UnicodeCategory.SpaceSeparator => r.Value == ' ',
        _ => true,
    };

    /// <summary>repr(float): shortest round-trip digits, scientific below 1e-4 and from 1e16 on, always a dot or exponent.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d))
        {
            return "nan";
        }

        if (double.IsInfinity(d))
        {
            return d > 0 ? "inf" : "-inf";
        }

        if (d == 0)
        {
            return double.IsNegative(d) ? "-0.0" : "0.0";
        }

        (bool negative, string digits, int decpt) = ShortestDigits(d);
        var sb = new StringBuilder(24);
        if (negative)
        {
            sb.Append('-');
        }

        if (decpt > 16 || decpt < -3)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1)
            {
                sb.Append('.').Append(digits, 1, digits.Length - 1);
            }

            int exp = decpt - 1;
            sb.Append('e').Append(exp < 0 ? '-' : '+').Append(Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (decpt <= 0)
        {
            sb.Append("0.").Append('0', -decpt).Append(digits);
        }
        else if (decpt >= digits.Length)
        {
            sb.Append(digits).Append('0', decpt - digits.Length).Append(".0");
        }
        else
        {
            sb.Append(digits, 0, decpt).Append('.').Append(digits, decpt, digits.Length - decpt);
        }

        return sb.ToString();
    }

    /// <summary>Digits d1..dn and decpt with |value| = 0.d1..dn * 10^decpt, from .NET's shortest round-trip form.</summary>
    private static (bool Negative, string Digits, int Decpt) ShortestDigits(double d)
    {
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        bool negative = r[0] == '-';
        if (negative)
        {
            r = r[1..];
        }

        int exp = 0;
        int e = r.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exp = int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..e];
        }

        int dot = r.IndexOf('.');
        string intPart = dot >= 0 ? r[..dot] : r;
        string frac = dot >= 0 ? r[(dot + 1)..] : "";
        string digits = intPart + frac;
        int decpt = intPart.Length + exp;
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0')
        {
            lead++;
        }

        digits = digits[lead..].TrimEnd('0');
        decpt -= lead;
        return (negative, digits.Length == 0 ? "0" : digits, decpt);
    }

    /// <summary>
    /// json.dumps(value, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sortKeys), which is
    /// what Hugging Face installs as the tojson filter.
    /// </summary>
    public static string Json(object? value, string? indent, string? itemSeparator, string? keySeparator, bool sortKeys)
    {
        itemSeparator ??= indent is null ? ", " : ",";
        keySeparator ??= ": ";
        var sb = new StringBuilder();
        AppendJson(sb, value, indent, itemSeparator, keySeparator, sortKeys, 0);
        return sb.ToString();
    }

    private static void AppendJson(StringBuilder sb, object? value, string? indent, string itemSep, string keySep, bool sortKeys, int level)
    {
        switch (value)
        {
            case null:
                sb.Append("null");
                break;
            case string s:
                AppendJsonString(sb, s);
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case long or int:
                sb.Append(Str(value));
                break;
            case double or float:
                double d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : FloatRepr(d));
                break;
            case IReadOnlyDictionary<string, object?> dict:
                if (dict.Count == 0)
                {
                    sb.Append("{}");
                    break;
                }

                IEnumerable<KeyValuePair<string, object?>> entries = sortKeys
                    ? dict.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                    : dict;
                sb.Append('{');
                bool first = true;
                foreach (KeyValuePair<string, object?> kv in entries)
                {
                    if (!first)
                    {
                        sb.Append(itemSep);
                    }

                    first = false;
                    NewLine(sb, indent, level + 1);
                    AppendJsonString(sb, kv.Key);
                    sb.Append(keySep);
                    AppendJson(sb, kv.Value, indent, itemSep, keySep, sortKeys, level + 1);
                }

                NewLine(sb, indent, level);
                sb.Append('}');
                break;
            case IReadOnlyList<object?> list:
                if (list.Count == 0)
                {
                    sb.Append("[]");
                    break;
                }

                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(itemSep);
                    }

                    NewLine(sb, indent, level + 1);
                    AppendJson(sb, list[i], indent, itemSep, keySep, sortKeys, level + 1);
                }

                NewLine(sb, indent, level);
                sb.Append(']');
                break;
            case JinjaNamespace ns:
                throw new ChatTemplateException("Object of type Namespace is not JSON serializable");
            default:
                throw new ChatTemplateException($"Object of type {PyOps.TypeName(value)} is not JSON serializable");
        }
    }

    private static void NewLine(StringBuilder sb, string? indent, int level)
    {
        if (indent is null)
        {
            return;
        }

        sb.Append('\n');
        for (int i = 0; i < level; i++)
        {
            sb.Append(indent);
        }
    }

    /// <summary>json string escaping with ensure_ascii=False: only quote, backslash and control characters.</summary>
    public static void AppendJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        int runStart = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c >= 0x20 && c != '"' && c != '\\')
            {
                continue;
            }

            sb.Append(s, runStart, i - runStart);
            runStart = i + 1;
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default: sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
            }
        }

        sb.Append(s, runStart, s.Length - runStart);
        sb.Append('"');
    }
}
