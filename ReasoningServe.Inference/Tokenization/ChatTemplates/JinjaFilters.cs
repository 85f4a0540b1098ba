using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>Jinja's built-in filters as Jinja2 3.1 implements them, plus Hugging Face's tojson override.</summary>
internal static partial class JinjaFilters
{
    private static readonly HashSet<string> Names =
    [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "forceescape", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
        "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
        "title", "tojson", "trim", "unique", "upper", "wordcount",
    ];

    /// <summary>Jinja2 built-ins this interpreter does not implement; naming them gives a clearer error than "no filter".</summary>
    private static readonly HashSet<string> Unsupported =
    [
        "filesizeformat", "format", "groupby", "pprint", "random", "slice", "striptags", "truncate", "urlencode", "urlize",
        "wordwrap", "xmlattr",
    ];

    public static bool Exists(string name) => Names.Contains(name);

    public static bool IsUnsupportedBuiltin(string name) => Unsupported.Contains(name);

    public static object? Apply(JinjaEvaluator ev, string name, object? value, JinjaArgs a)
    {
        switch (name)
        {
            case "default" or "d":
                return value is JinjaUndefined || (PyOps.IsTruthy(a.Get(1, "boolean", false)) && !PyOps.IsTruthy(value))
                    ? a.Get(0, "default_value", "")
                    : value;
            case "length" or "count":
                return (long)PyOps.Length(value);
            case "string":
                return PyFormat.Str(value);
            case "trim":
                return PyString.Strip(PyFormat.Str(value), a.Get(0, "chars") as string, left: true, right: true);
            case "lower":
                return PyString.Lower(PyFormat.Str(value));
            case "upper":
                return PyString.Upper(PyFormat.Str(value));
            case "capitalize":
                return PyString.Capitalize(PyFormat.Str(value));
            case "title":
                return Title(PyFormat.Str(value));
            case "center":
                return PyString.Center(PyFormat.Str(value), (int)Integer(a.Get(0, "width", 80L)));
            case "replace":
                object? count = a.Get(2, "count");
                return PyString.Replace(
                    PyFormat.Str(value),
                    PyFormat.Str(a.Get(0, "old")),
                    PyFormat.Str(a.Get(1, "new")),
                    count is null ? -1 : Integer(count));
            case "safe" or "forceescape":
                return value;
            case "e" or "escape":
                return HtmlEscape(PyFormat.Str(value));
            case "tojson":
                return ToJson(value, a);
            case "int":
                return ToInt(value, a.Get(0, "default", 0L), Integer(a.Get(1, "base", 10L)));
            case "float":
                return ToFloat(value, a.Get(0, "default", 0.0));
            case "abs":
                return value switch
                {
                    double d => (object)Math.Abs(d),
                    _ when PyOps.TryInteger(value, out long l) => (object)Math.Abs(l),
                    _ => throw new ChatTemplateException($"bad operand type for abs(): '{PyOps.TypeName(value)}'"),
                };
            case "round":
                return Round(value, Integer(a.Get(0, "precision", 0L)), PyFormat.Str(a.Get(1, "method", "common")));
            case "first":
                {
                    IReadOnlyList<object?> items = PyOps.Iterate(value);
                    return items.Count > 0 ? items[0] : JinjaUndefined.Missing("first");
                }

            case "last":
                {
                    IReadOnlyList<object?> items = PyOps.Iterate(value);
                    return items.Count > 0 ? items[^1] : JinjaUndefined.Missing("last");
                }

            case "list":
                return new List<object?>(PyOps.Iterate(value));
            case "reverse":
                if (value is string rs)
                {
                    return (string)PyOps.Slice(rs, null, null, -1L);
                }

                List<object?> reversed = [.. PyOps.Iterate(value)];
                reversed.Reverse();
                return reversed;
            case "items":
                if (value is JinjaUndefined)
                {
                    return new List<object?>();
                }

                if (value is not IReadOnlyDictionary<string, object?> dict)
                {
                    throw new ChatTemplateException("Can only get item pairs from a mapping.");
                }

                return JinjaMethods.Call(dict, "items", JinjaArgs.None);
            case "join":
                return Join(ev, value, a);
            case "map":
                return Map(ev, value, a);
            case "select" or "reject":
                return Select(ev, value, a, attribute: null, testIndex: 0, keep: name == "select");
            case "selectattr" or "rejectattr":
                return Select(ev, value, a, PyFormat.Str(a.Get(0, "attribute")), testIndex: 1, keep: name == "selectattr");
            case "attr":
                {
                    // attr() is getattr only: dict keys are not attributes.
                    string attribute = PyFormat.Str(a.Get(0, "name"));
                    return value is IReadOnlyDictionary<string, object?> && !JinjaMethods.Has(value, attribute)
                        ? JinjaUndefined.MissingAttribute(value, attribute)
                        : PyOps.GetAttr(value, attribute);
                }

            case "sort":
                return Sort(ev, value, a);
            case "unique":
                return Unique(ev, value, a);
            case "max" or "min":
                return MinMax(ev, value, a, max: name == "max");
            case "sum":
                return Sum(ev, value, a);
            case "dictsort":
                return DictSort(value, a);
            case "indent":
                return Indent(PyFormat.Str(value), a);
            case "wordcount":
                return (long)WordRegex().Count(PyFormat.Str(value));
            case "batch":
                return Batch(value, a);
            default:
                throw new ChatTemplateException($"No filter named '{name}'.");
        }
    }

    /// <summary>Hugging Face's tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).</summary>
    private static string ToJson(object? value, JinjaArgs a)
    {
        bool ensureAscii = PyOps.IsTruthy(a.Get(0, "ensure_ascii", false));
        object? indent = a.Get(1, "indent");
        object? separators = a.Get(2, "separators");
        bool sortKeys = PyOps.IsTruthy(a.Get(3, "sort_keys", false));
        string? indentText = indent switch
        {
            null => null,
            string s => s,
            _ => new string(' ', (int)Math.Max(0, Integer(indent))),
        };
        string? itemSep = null;
        string? keySep = null;
        if (separators is IReadOnlyList<object?> { Count: 2 } seps)
        {
            itemSep = PyFormat.Str(seps[0]);
            keySep = PyFormat.Str(seps[1]);
        }

        string json = PyFormat.Json(value, indentText, itemSep, keySep, sortKeys);
        return ensureAscii ? EscapeNonAscii(json) : json;
    }

    /// <summary>markupsafe.escape: &amp; &lt; &gt; " ' only.</summary>
    private static string HtmlEscape(string s) => s
        .Replace("&", "&amp;", StringComparison.Ordinal)
        .Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal)
        .Replace("\"", "&#34;", StringComparison.Ordinal)
        .Replace("'", "&#39;", StringComparison.Ordinal);

    private static string EscapeNonAscii(string json)
    {
        var sb = new StringBuilder(json.Length);
        foreach (char c in json)
        {
            if (c < 0x80)
            {
                sb.Append(c);
            }
            else
            {
                sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
        }

        return sb.ToString();
    }

    /// <summary>Jinja's title: each piece between [-\s({[&lt;] separators gets its first letter upper and the rest lower.</summary>
    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (string piece in TitleSplitRegex().Split(s))
        {
            if (piece.Length > 0)
            {
                sb.Append(char.ToUpperInvariant(piece[0])).Append(piece[1..].ToLowerInvariant());
            }
        }

        return sb.ToString();
    }

    [GeneratedRegex(@"([-\s({\[<]+)")]
    private static partial Regex TitleSplitRegex();

    [GeneratedRegex(@"\w+")]
    private static partial Regex WordRegex();

    private static object? ToInt(object? value, object? fallback, long numberBase)
    {
        switch (value)
        {
            case long or int or bool:
                PyOps.TryInteger(value, out long l);
                return l;
            case double d:
                return double.IsFinite(d) ? (long)Math.Truncate(d) : fallback;
            case string s:
                string t = s.Trim().Replace("_", "");
                try
                {
                    if (numberBase == 10 && long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long parsed))
                    {
                        return parsed;
                    }

                    if (numberBase != 10)
                    {
                        return Convert.ToInt64(t, (int)numberBase);
                    }
                }
                catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
                {
                    return fallback;
                }

                return TryParseFloat(s, out double f) && double.IsFinite(f) ? (long)Math.Truncate(f) : fallback;
            default:
                return fallback;
        }
    }

    private static object? ToFloat(object? value, object? fallback)
    {
        switch (value)
        {
            case double d:
                return d;
            case string s:
                return TryParseFloat(s, out double f) ? f : fallback;
            default:
                return PyOps.TryInteger(value, out long l) ? (double)l : fallback;
        }
    }

    private static bool TryParseFloat(string s, out double value)
    {
        string t = s.Trim().Replace("_", "");
        switch (t.ToLowerInvariant())
        {
            case "inf" or "+inf" or "infinity" or "+infinity":
                value = double.PositiveInfinity;
                return true;
            case "-inf" or "-infinity":
                value = double.NegativeInfinity;
                return true;
            case "nan" or "+nan" or "-nan":
                value = double.NaN;
                return true;
        }

        return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>round(value, precision): Python's round (half to even) for 'common', math.floor/ceil otherwise.</summary>
    private static object Round(object? value, long precision, string method)
    {
        if (!PyOps.IsNumber(value))
        {
            throw new ChatTemplateException($"type {PyOps.TypeName(value)} doesn't define __round__ method");
        }

        if (method == "common")
        {
            if (PyOps.TryInteger(value, out long l))
            {
                return l;
            }

            PyOps.TryDouble(value, out double d);
            return precision is >= 0 and <= 15 ? Math.Round(d, (int)precision, MidpointRounding.ToEven) : d;
        }

        if (method is not ("floor" or "ceil"))
        {
            throw new ChatTemplateException("method must be 'common', 'ceil' or 'floor'");
        }

        PyOps.TryDouble(value, out double x);
        double scale = Math.Pow(10, precision);
        double scaled = method == "floor" ? Math.Floor(x * scale) : Math.Ceiling(x * scale);
        return scaled / scale;
    }

    private static string Join(JinjaEvaluator ev, object? value, JinjaArgs a)
    {
        string separator = PyFormat.Str(a.Get(0, "d", ""));
        object? attribute = a.Get(1, "attribute");
        var sb = new StringBuilder();
        bool first = true;
        foreach (object? item in PyOps.Iterate(value))
        {
            if (!first)
            {
                sb.Append(separator);
            }

            first = false;
            PyFormat.AppendStr(sb, attribute is null ? item : ev.GetAttribute(item, attribute));
        }

        return sb.ToString();
    }

    private static List<object?> Map(JinjaEvaluator ev, object? value, JinjaArgs a)
    {
        var result = new List<object?>();
        IReadOnlyList<object?> items = PyOps.Iterate(value);
        if (a.Count == 0 && a.Has(-1, "attribute"))
        {
            object? attribute = a.Get(-1, "attribute");
            bool hasDefault = a.Has(-1, "default");
            object? fallback = a.Get(-1, "default");
            foreach (object? item in items)
            {
                object? v = ev.GetAttribute(item, attribute);
                result.Add(hasDefault && v is JinjaUndefined ? fallback : v);
            }

            return result;
        }

        if (a.Count == 0)
        {
            throw new ChatTemplateException("map requires a filter argument");
        }

        string filter = PyFormat.Str(a.Positional[0]);
        var rest = new JinjaArgs(a.Positional[1..], a.Keywords);
        foreach (object? item in items)
        {
            result.Add(Apply(ev, filter, item, rest));
        }

        return result;
    }

    private static List<object?> Select(JinjaEvaluator ev, object? value, JinjaArgs a, string? attribute, int testIndex, bool keep)
    {
        string? test = a.Count > testIndex ? PyFormat.Str(a.Positional[testIndex]) : null;
        object?[] testArgs = a.Count > testIndex + 1 ? a.Positional[(testIndex + 1)..] : [];
        if (test is not null && !JinjaTestFunctions.Exists(test))
        {
            throw new ChatTemplateException($"No test named '{test}'.");
        }

        var result = new List<object?>();
        foreach (object? item in PyOps.Iterate(value))
        {
            object? subject = attribute is null ? item : ev.GetAttribute(item, attribute);
            bool passed = test is null ? PyOps.IsTruthy(subject) : JinjaTestFunctions.Run(test, subject, testArgs);
            if (passed == keep)
            {
                result.Add(item);
            }
        }

        return result;
    }

    /// <summary>The sort key Jinja uses: an attribute of the item, lower-cased when case-insensitive.</summary>
    private static object? SortKey(JinjaEvaluator ev, object? item, object? attribute, bool caseSensitive)
    {
        object? key = attribute is null ? item : ev.GetAttribute(item, attribute);
        return !caseSensitive && key is string s ? s.ToLowerInvariant() : key;
    }

    private static List<object?> Sort(JinjaEvaluator ev, object? value, JinjaArgs a)
    {
        bool reverse = PyOps.IsTruthy(a.Get(0, "reverse", false));
        bool caseSensitive = PyOps.IsTruthy(a.Get(1, "case_sensitive", false));
        object? attribute = a.Get(2, "attribute");
        var keyed = new List<(object? Key, object? Item)>();
        foreach (object? item in PyOps.Iterate(value))
        {
            keyed.Add((SortKey(ev, item, attribute, caseSensitive), item));
        }

        // Python's sort is stable; reverse=True keeps equal items in their original order too.
        List<(object? Key, object? Item)> sorted = reverse
            ? [.. keyed.OrderByDescending(k => k.Key, Comparer<object?>.Create((x, y) => PyOps.Compare(x, y)))]
            : [.. keyed.OrderBy(k => k.Key, Comparer<object?>.Create((x, y) => PyOps.Compare(x, y)))];
        return sorted.ConvertAll(k => k.Item);
    }

    private static List<object?> Unique(JinjaEvaluator ev, object? value, JinjaArgs a)
    {
        bool caseSensitive = PyOps.IsTruthy(a.Get(0, "case_sensitive", false));
        object? attribute = a.Get(1, "attribute");
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (object? item in PyOps.Iterate(value))
        {
            object? key = SortKey(ev, item, attribute, caseSensitive);
            if (!seen.Exists(k => PyOps.Equals(k, key)))
            {
                seen.Add(key);
                result.Add(item);
            }
        }

        return result;
    }

    private static object? MinMax(JinjaEvaluator ev, object? value, JinjaArgs a, bool max)
    {
        bool caseSensitive = PyOps.IsTruthy(a.Get(0, "case_sensitive", false));
        object? attribute = a.Get(1, "attribute");
        object? best = null;
        object? bestKey = null;
        bool any = false;
        foreach (object? item in PyOps.Iterate(value))
        {
            object? key = SortKey(ev, item, attribute, caseSensitive);
            int cmp = any ? PyOps.Compare(key, bestKey) : 0;
            if (!any || (max ? cmp > 0 : cmp < 0))
            {
                best = item;
                bestKey = key;
                any = true;
            }
        }

        return any ? best : JinjaUndefined.Missing(max ? "max" : "min");
    }

    private static object? Sum(JinjaEvaluator ev, object? value, JinjaArgs a)
    {
        object? attribute = a.Get(0, "attribute");
        object? total = a.Get(1, "start", 0L);
        foreach (object? item in PyOps.Iterate(value))
        {
            total = PyOps.Binary("+", total, attribute is null ? item : ev.GetAttribute(item, attribute));
        }

        return total;
    }

    private static List<object?> DictSort(object? value, JinjaArgs a)
    {
        if (value is not IReadOnlyDictionary<string, object?> dict)
        {
            throw new ChatTemplateException("dictsort expects a mapping");
        }

        bool caseSensitive = PyOps.IsTruthy(a.Get(0, "case_sensitive", false));
        bool byValue = PyFormat.Str(a.Get(1, "by", "key")) == "value";
        bool reverse = PyOps.IsTruthy(a.Get(2, "reverse", false));
        var comparer = Comparer<object?>.Create((x, y) => PyOps.Compare(x, y));
        IEnumerable<KeyValuePair<string, object?>> pairs = dict;
        Func<KeyValuePair<string, object?>, object?> key = kv =>
        {
            object? k = byValue ? kv.Value : kv.Key;
            return !caseSensitive && k is string s ? s.ToLowerInvariant() : k;
        };
        pairs = reverse ? pairs.OrderByDescending(key, comparer) : pairs.OrderBy(key, comparer);
        return [.. pairs.Select(kv => (object?)new PyTuple([kv.Key, kv.Value]))];
    }

    private static string Indent(string s, JinjaArgs a)
    {
        object? width = a.Get(0, "width", 4L);
        string indent = width is string w ? w : new string(' ', (int)Math.Max(0, Integer(width)));
        bool first = PyOps.IsTruthy(a.Get(1, "first", false));
        bool blank = PyOps.IsTruthy(a.Get(2, "blank", false));
        List<object?> lines = PyString.SplitLines(s + "\n", keepEnds: false);
        var sb = new StringBuilder();
        if (blank)
        {
            for (int i = 0; i < lines.Count; i++)
            {
                if (i > 0)
                {
                    sb.Append('\n').Append(indent);
                }

                sb.Append((string)lines[i]!);
            }
        }
        else
        {
            sb.Append(lines.Count > 0 ? (string)lines[0]! : "");
            for (int i = 1; i < lines.Count; i++)
            {
                string line = (string)lines[i]!;
                sb.Append('\n');
                if (line.Length > 0)
                {
                    sb.Append(indent);
                }

                sb.Append(line);
            }
        }

        return first ? indent + sb : sb.ToString();
    }

    private static List<object?> Batch(object? value, JinjaArgs a)
    {
        long size = Integer(a.Get(0, "linecount"));
        if (size <= 0)
        {
            throw new ChatTemplateException("batch size must be positive");
        }

        bool fill = a.Has(1, "fill_with") && a.Get(1, "fill_with") is not null;
        object? filler = a.Get(1, "fill_with");
        var result = new List<object?>();
        List<object?>? current = null;
        foreach (object? item in PyOps.Iterate(value))
        {
            current ??= [];
            current.Add(item);
            if (current.Count == size)
            {
                result.Add(current);
                current = null;
            }
        }

        if (current is not null)
        {
            while (fill && current.Count < size)
            {
                current.Add(filler);
            }

            result.Add(current);
        }

        return result;
    }

    private static long Integer(object? value) =>
        PyOps.TryInteger(value, out long l) ? l : throw new ChatTemplateException($"'{PyOps.TypeName(value)}' object cannot be interpreted as an integer");
}
