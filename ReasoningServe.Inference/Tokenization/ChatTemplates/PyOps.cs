using System.Text;

namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>Python semantics of the operators templates use: truthiness, ==, &lt;, arithmetic, len, in, iteration, indexing.</summary>
internal static class PyOps
{
    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        bool => "bool",
        long or int => "int",
        double or float => "float",
        string => "str",
        PyTuple => "tuple",
        PyRange => "range",
        IReadOnlyDictionary<string, object?> => "dict",
        IReadOnlyList<object?> => "list",
        JinjaNamespace => "Namespace",
        JinjaUndefined => "Undefined",
        JinjaFunction => "function",
        LoopContext => "LoopContext",
        _ => value.GetType().Name,
    };

    public static bool IsTruthy(object? value) => value switch
    {
        null => false,
        bool b => b,
        string s => s.Length > 0,
        long l => l != 0,
        int i => i != 0,
        double d => d != 0,
        float f => f != 0,
        JinjaUndefined => false,
        IReadOnlyDictionary<string, object?> d => d.Count > 0,
        IReadOnlyList<object?> l => l.Count > 0,
        _ => true,
    };

    public static bool IsInteger(object? value) => value is long or int;

    public static bool IsNumber(object? value) => value is long or int or double or float or bool;

    /// <summary>Python's numeric tower: bool and int as long, float as double.</summary>
    public static bool TryInteger(object? value, out long result)
    {
        switch (value)
        {
            case long l: result = l; return true;
            case int i: result = i; return true;
            case bool b: result = b ? 1 : 0; return true;
            default: result = 0; return false;
        }
    }

    public static bool TryDouble(object? value, out double result)
    {
        switch (value)
        {
            case double d: result = d; return true;
            case float f: result = f; return true;
            default:
                bool ok = TryInteger(value, out long l);
                result = l;
                return ok;
        }
    }

    public static new bool Equals(object? a, object? b)
    {
        if (a is string sa)
        {
            return b is string sb && string.Equals(sa, sb, StringComparison.Ordinal);
        }

        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        if (TryInteger(a, out long la) && TryInteger(b, out long lb))
        {
            return la == lb;
        }

        if (IsNumber(a) && IsNumber(b))
        {
            TryDouble(a, out double da);
            TryDouble(b, out double db);
            return da == db;
        }

        switch (a)
        {
            case JinjaUndefined:
                return b is JinjaUndefined;
            case IReadOnlyDictionary<string, object?> da:
                if (b is not IReadOnlyDictionary<string, object?> db || da.Count != db.Count)
                {
                    return false;
                }

                foreach (KeyValuePair<string, object?> kv in da)
                {
                    if (!db.TryGetValue(kv.Key, out object? other) || !Equals(kv.Value, other))
                    {
                        return false;
                    }
                }

                return true;
            case IReadOnlyList<object?> la2:
                if (b is not IReadOnlyList<object?> lb2 || (a is PyTuple) != (b is PyTuple) || la2.Count != lb2.Count)
                {
                    return false;
                }

                for (int i = 0; i < la2.Count; i++)
                {
                    if (!Equals(la2[i], lb2[i]))
                    {
                        return false;
                    }
                }

                return true;
            default:
                return ReferenceEquals(a, b);
        }
    }

    /// <summary>Ordering for &lt; &gt; sort min max: numbers, strings (by code point) and sequences.</summary>
    public static int Compare(object? a, object? b, string op = "<")
    {
        if (a is string sa && b is string sb)
        {
            return string.CompareOrdinal(sa, sb);
        }

        if (TryInteger(a, out long la) && TryInteger(b, out long lb))
        {
            return la.CompareTo(lb);
        }

        if (IsNumber(a) && IsNumber(b))
        {
            TryDouble(a, out double da);
            TryDouble(b, out double db);
            return da.CompareTo(db);
        }

        if (a is IReadOnlyList<object?> xa && b is IReadOnlyList<object?> xb && (a is PyTuple) == (b is PyTuple))
        {
            for (int i = 0; i < Math.Min(xa.Count, xb.Count); i++)
            {
                if (!Equals(xa[i], xb[i]))
                {
                    return Compare(xa[i], xb[i], op);
                }
            }

            return xa.Count.CompareTo(xb.Count);
        }

        throw Undefined(a) ?? Undefined(b)
            ?? new ChatTemplateException($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static ChatTemplateException? Undefined(object? value) => value is JinjaUndefined u ? u.Error() : null;

    public static object? Binary(string op, object? a, object? b)
    {
        if (Undefined(a) is { } ea)
        {
            throw ea;
        }

        if (Undefined(b) is { } eb)
        {
            throw eb;
        }

        switch (op)
        {
            case "+":
                if (a is string s1 && b is string s2)
                {
                    return string.Concat(s1, s2);
                }

                if (a is IReadOnlyList<object?> l1 && b is IReadOnlyList<object?> l2 && !(a is PyTuple ^ b is PyTuple)
                    && a is not PyRange && b is not PyRange)
                {
                    var joined = new List<object?>(l1.Count + l2.Count);
                    joined.AddRange(l1);
                    joined.AddRange(l2);
                    return a is PyTuple ? new PyTuple([.. joined]) : joined;
                }

                return Arithmetic(op, a, b);
            case "*":
                if (a is string rs && TryInteger(b, out long rn))
                {
                    return Repeat(rs, rn);
                }

                if (b is string rs2 && TryInteger(a, out long rn2))
                {
                    return Repeat(rs2, rn2);
                }

                if (a is IReadOnlyList<object?> rl && TryInteger(b, out long rln))
                {
                    var result = new List<object?>();
                    for (long i = 0; i < rln; i++)
                    {
                        result.AddRange(rl);
                    }

                    return result;
                }

                return Arithmetic(op, a, b);
            default:
                return Arithmetic(op, a, b);
        }
    }

    private static string Repeat(string s, long n)
    {
        if (n <= 0)
        {
            return "";
        }

        var sb = new StringBuilder(s.Length * (int)n);
        for (long i = 0; i < n; i++)
        {
            sb.Append(s);
        }

        return sb.ToString();
    }

    private static object Arithmetic(string op, object? a, object? b)
    {
        if (!IsNumber(a) || !IsNumber(b))
        {
            if (op == "%" && a is string)
            {
                throw new ChatTemplateException("printf-style string formatting ('%') is not supported");
            }

            throw new ChatTemplateException(
                $"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");
        }

        if (TryInteger(a, out long x) && TryInteger(b, out long y))
        {
            switch (op)
            {
                case "+": return x + y;
                case "-": return x - y;
                case "*": return x * y;
                case "/":
                    return y == 0 ? throw new ChatTemplateException("division by zero") : (double)x / y;
                case "//":
                    return y == 0 ? throw new ChatTemplateException("integer division or modulo by zero") : FloorDiv(x, y);
                case "%":
                    return y == 0 ? throw new ChatTemplateException("integer division or modulo by zero") : x - (FloorDiv(x, y) * y);
                case "**":
                    if (y >= 0)
                    {
                        long r = 1;
                        for (long i = 0; i < y; i++)
                        {
                            r *= x;
                        }

                        return r;
                    }

                    return Math.Pow(x, y);
            }
        }

        TryDouble(a, out double p);
        TryDouble(b, out double q);
        switch (op)
        {
            case "+": return p + q;
            case "-": return p - q;
            case "*": return p * q;
            case "/": return q == 0 ? throw new ChatTemplateException("float division by zero") : p / q;
            case "//": return q == 0 ? throw new ChatTemplateException("float floor division by zero") : Math.Floor(p / q);
            case "%":
                if (q == 0)
                {
                    throw new ChatTemplateException("float modulo");
                }

                double m = p % q;
                return m != 0 && (m < 0) != (q < 0) ? m + q : m;
            case "**": return Math.Pow(p, q);
            default: throw new ChatTemplateException($"unknown operator {op}");
        }
    }

    private static long FloorDiv(long x, long y)
    {
        long q = x / y;
        return (x % y != 0) && ((x < 0) != (y < 0)) ? q - 1 : q;
    }

    public static object Negate(object? value) => value switch
    {
        double d => (object)(-d),
        float f => -(double)f,
        _ when TryInteger(value, out long l) => (object)(-l),
        JinjaUndefined u => throw u.Error(),
        _ => throw new ChatTemplateException($"bad operand type for unary -: '{TypeName(value)}'"),
    };

    /// <summary>len(); Undefined has length 0 as in Jinja.</summary>
    public static int Length(object? value) => value switch
    {
        string s => PyString.Length(s),
        IReadOnlyDictionary<string, object?> d => d.Count,
        IReadOnlyList<object?> l => l.Count,
        JinjaUndefined => 0,
        JinjaNamespace ns => ns.Attributes.Count,
        _ => throw new ChatTemplateException($"object of type '{TypeName(value)}' has no len()"),
    };

    /// <summary>Python "needle in haystack".</summary>
    public static bool Contains(object? haystack, object? needle)
    {
        switch (haystack)
        {
            case string s:
                return needle is string n
                    ? s.Contains(n, StringComparison.Ordinal)
                    : throw new ChatTemplateException($"'in <string>' requires string as left operand, not {TypeName(needle)}");
            case IReadOnlyDictionary<string, object?> d:
                return needle is string key && d.ContainsKey(key);
            case IReadOnlyList<object?> l:
                for (int i = 0; i < l.Count; i++)
                {
                    if (Equals(l[i], needle))
                    {
                        return true;
                    }
                }

                return false;
            case JinjaUndefined:
                return false;
            default:
                throw new ChatTemplateException($"argument of type '{TypeName(haystack)}' is not iterable");
        }
    }

    /// <summary>The items a for loop or filter sees: characters of a string, keys of a dict, nothing for Undefined.</summary>
    public static IReadOnlyList<object?> Iterate(object? value) => value switch
    {
        IReadOnlyList<object?> l => l,
        IReadOnlyDictionary<string, object?> d => [.. d.Keys],
        string s => PyString.Characters(s),
        JinjaUndefined => [],
        _ => throw new ChatTemplateException($"'{TypeName(value)}' object is not iterable"),
    };

    /// <summary>obj[key]: list index (negative from the end), dict key, string character; missing gives Undefined.</summary>
    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case IReadOnlyDictionary<string, object?> d:
                if (key is string k && d.TryGetValue(k, out object? v))
                {
                    return v;
                }

                return key is string ks && DictMethodNames.Contains(ks)
                    ? JinjaMethods.Bind(target, ks)
                    : JinjaUndefined.MissingAttribute(target, key is string s ? s : PyFormat.Str(key));
            case IReadOnlyList<object?> l when TryInteger(key, out long index):
                if (index < 0)
                {
                    index += l.Count;
                }

                return index >= 0 && index < l.Count ? l[(int)index] : JinjaUndefined.MissingAttribute(target, PyFormat.Str(key));
            case string str when TryInteger(key, out long ci):
                string? ch = PyString.CharAt(str, ci);
                return ch ?? (object)JinjaUndefined.MissingAttribute(target, PyFormat.Str(key));
            case JinjaUndefined u:
                throw u.Error();
            case JinjaNamespace ns when key is string name:
                return ns.Attributes.TryGetValue(name, out object? nv) ? nv : JinjaUndefined.MissingAttribute(target, name);
            case LoopContext loop when key is string name:
                return loop.Get(name);
            default:
                return key is string attr ? GetAttr(target, attr) : JinjaUndefined.MissingAttribute(target, PyFormat.Str(key));
        }
    }

    private static readonly HashSet<string> DictMethodNames = ["get", "items", "keys", "values"];

    /// <summary>obj.name: Python attributes (methods) first, then items, as Jinja's getattr does.</summary>
    public static object? GetAttr(object? target, string name)
    {
        switch (target)
        {
            case IReadOnlyDictionary<string, object?> d:
                if (DictMethodNames.Contains(name))
                {
                    return JinjaMethods.Bind(target, name);
                }

                return d.TryGetValue(name, out object? v) ? v : JinjaUndefined.MissingAttribute(target, name);
            case LoopContext loop:
                return loop.Get(name);
            case JinjaNamespace ns:
                return ns.Attributes.TryGetValue(name, out object? nv) ? nv : JinjaUndefined.MissingAttribute(target, name);
            case JinjaUndefined u:
                throw u.Error();
            default:
                return JinjaMethods.Has(target, name) ? JinjaMethods.Bind(target, name) : JinjaUndefined.MissingAttribute(target, name);
        }
    }

    /// <summary>Python slicing seq[start:stop:step] for lists, tuples and strings.</summary>
    public static object Slice(object? target, object? start, object? stop, object? step)
    {
        long st = step is null ? 1 : TryInteger(step, out long s) ? s : throw SliceError();
        if (st == 0)
        {
            throw new ChatTemplateException("slice step cannot be zero");
        }

        switch (target)
        {
            case string str:
                {
                    if (!PyString.HasSurrogates(str) && st == 1)
                    {
                        (int a, int b) = Bounds(str.Length, start, stop, 1);
                        return b > a ? str[a..b] : "";
                    }

                    IReadOnlyList<object?> chars = PyString.Characters(str);
                    var sb = new StringBuilder();
                    foreach (object? c in SliceList(chars, start, stop, st))
                    {
                        sb.Append((string)c!);
                    }

                    return sb.ToString();
                }

            case IReadOnlyList<object?> l:
                List<object?> items = SliceList(l, start, stop, st);
                return target is PyTuple ? new PyTuple([.. items]) : items;
            case JinjaUndefined u:
                throw u.Error();
            default:
                throw new ChatTemplateException($"'{TypeName(target)}' object is not subscriptable");
        }
    }

    private static List<object?> SliceList(IReadOnlyList<object?> l, object? start, object? stop, long step)
    {
        var result = new List<object?>();
        (int a, int b) = Bounds(l.Count, start, stop, step);
        if (step > 0)
        {
            for (long i = a; i < b; i += step)
            {
                result.Add(l[(int)i]);
            }
        }
        else
        {
            for (long i = a; i > b; i += step)
            {
                result.Add(l[(int)i]);
            }
        }

        return result;
    }

    /// <summary>PySlice_AdjustIndices: clamps start and stop for a sequence of length n.</summary>
    private static (int Start, int Stop) Bounds(int n, object? start, object? stop, long step)
    {
        long lower = step < 0 ? -1 : 0;
        long upper = step < 0 ? n - 1 : n;
        long Clamp(object? v, long fallback)
        {
            if (v is null)
            {
                return fallback;
            }

            if (!TryInteger(v, out long x))
            {
                throw SliceError();
            }

            if (x < 0)
            {
                x += n;
                return x < lower ? lower : x;
            }

            return x > upper ? upper : x;
        }

        long a = Clamp(start, step < 0 ? upper : lower);
        long b = Clamp(stop, step < 0 ? lower : upper);
        return ((int)a, (int)b);
    }

    private static ChatTemplateException SliceError() =>
        new("slice indices must be integers or None or have an __index__ method");
}
