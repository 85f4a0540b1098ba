using System.Globalization;
using System.Text;

namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>Global functions visible to every template: Jinja's range/namespace/dict and Hugging Face's raise_exception/strftime_now.</summary>
internal static class JinjaGlobals
{
    /// <summary>The sandbox's cap on range() sizes.</summary>
    private const long MaxRange = 100_000;

    private static readonly Dictionary<string, JinjaFunction> Functions = new(StringComparer.Ordinal)
    {
        ["range"] = new("range", Range),
        ["namespace"] = new("namespace", Namespace),
        ["dict"] = new("dict", Dict),
        ["raise_exception"] = new("raise_exception", args => throw new ChatTemplateException(PyFormat.Str(args.Get(0, "message")))),
    };

    public static bool TryGet(string name, TimeProvider clock, out object? value)
    {
        if (name == "strftime_now")
        {
            value = new JinjaFunction(name, args => Strftime(clock.GetLocalNow().DateTime, PyFormat.Str(args.Get(0, "format"))));
            return true;
        }

        bool found = Functions.TryGetValue(name, out JinjaFunction? f);
        value = f;
        return found;
    }

    private static object Range(JinjaArgs args)
    {
        if (args.Keywords.Length > 0 || args.Count is 0 or > 3)
        {
            throw new ChatTemplateException($"range expected 1 to 3 positional arguments, got {args.Count}");
        }

        long[] n = new long[args.Count];
        for (int i = 0; i < n.Length; i++)
        {
            n[i] = PyOps.TryInteger(args.Positional[i], out long v)
                ? v
                : throw new ChatTemplateException($"'{PyOps.TypeName(args.Positional[i])}' object cannot be interpreted as an integer");
        }

        (long start, long stop, long step) = n.Length switch
        {
            1 => (0L, n[0], 1L),
            2 => (n[0], n[1], 1L),
            _ => (n[0], n[1], n[2]),
        };
        if (step == 0)
        {
            throw new ChatTemplateException("range() arg 3 must not be zero");
        }

        var range = new PyRange(start, stop, step);
        return range.Count > MaxRange
            ? throw new ChatTemplateException($"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).")
            : range;
    }

    private static object Namespace(JinjaArgs args)
    {
        var ns = new JinjaNamespace();
        Fill(ns.Attributes, args, "namespace");
        return ns;
    }

    private static object Dict(JinjaArgs args)
    {
        var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        Fill(dict, args, "dict");
        return dict;
    }

    private static void Fill(OrderedDictionary<string, object?> target, JinjaArgs args, string what)
    {
        if (args.Count > 1)
        {
            throw new ChatTemplateException($"{what} expected at most 1 positional argument, got {args.Count}");
        }

        if (args.Count == 1)
        {
            switch (args.Positional[0])
            {
                case IReadOnlyDictionary<string, object?> d:
                    foreach (KeyValuePair<string, object?> kv in d)
                    {
                        target[kv.Key] = kv.Value;
                    }

                    break;
                case IReadOnlyList<object?> pairs:
                    foreach (object? pair in pairs)
                    {
                        if (pair is not IReadOnlyList<object?> { Count: 2 } kv || kv[0] is not string key)
                        {
                            throw new ChatTemplateException($"{what} sequence elements must be (str, value) pairs");
                        }

                        target[key] = kv[1];
                    }

                    break;
                default:
                    throw new ChatTemplateException($"'{PyOps.TypeName(args.Positional[0])}' object is not iterable");
            }
        }

        foreach (KeyValuePair<string, object?> kv in args.Keywords)
        {
            target[kv.Key] = kv.Value;
        }
    }

    /// <summary>datetime.strftime with the C library's directives (English names, as under the C locale).</summary>
    public static string Strftime(DateTime t, string format)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }

            char d = format[++i];
            bool noPad = false;
            if (d == '-' && i + 1 < format.Length)
            {
                noPad = true;
                d = format[++i];
            }

            string Pad(int v, int width) => noPad ? v.ToString(c) : v.ToString(new string('0', width), c);
            sb.Append(d switch
            {
                'a' => t.ToString("ddd", c),
                'A' => t.ToString("dddd", c),
                'b' or 'h' => t.ToString("MMM", c),
                'B' => t.ToString("MMMM", c),
                'd' => Pad(t.Day, 2),
                'e' => noPad ? t.Day.ToString(c) : t.Day.ToString(c).PadLeft(2),
                'm' => Pad(t.Month, 2),
                'y' => Pad(t.Year % 100, 2),
                'Y' => t.Year.ToString(c),
                'H' => Pad(t.Hour, 2),
                'I' => Pad(t.Hour % 12 == 0 ? 12 : t.Hour % 12, 2),
                'M' => Pad(t.Minute, 2),
                'S' => Pad(t.Second, 2),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", c),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => Pad(t.DayOfYear, 3),
                'w' => ((int)t.DayOfWeek).ToString(c),
                'u' => (t.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)t.DayOfWeek).ToString(c),
                'F' => t.ToString("yyyy-MM-dd", c),
                'D' => t.ToString("MM/dd/yy", c),
                'T' => t.ToString("HH:mm:ss", c),
                'R' => t.ToString("HH:mm", c),
                'c' => t.ToString("ddd MMM ", c) + t.Day.ToString(c).PadLeft(2) + t.ToString(" HH:mm:ss yyyy", c),
                'x' => t.ToString("MM/dd/yy", c),
                'X' => t.ToString("HH:mm:ss", c),
                'z' or 'Z' => "",
                'n' => "\n",
                't' => "\t",
                '%' => "%",
                _ => "%" + d,
            });
        }

        return sb.ToString();
    }
}
