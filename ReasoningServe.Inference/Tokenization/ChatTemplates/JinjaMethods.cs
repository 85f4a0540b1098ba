namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>The Python methods templates call on values: str.strip/split/startswith/..., dict.get/items/keys/values.</summary>
internal static class JinjaMethods
{
    private static readonly HashSet<string> StringMethods =
    [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "replace", "upper", "lower",
        "title", "capitalize", "find", "rfind", "index", "rindex", "count", "join", "isdigit", "isalpha", "isalnum",
        "isspace", "isupper", "islower", "center", "removeprefix", "removesuffix",
    ];

    private static readonly HashSet<string> DictMethods = ["get", "items", "keys", "values"];

    /// <summary>Methods the immutable sandbox refuses because they would mutate a value.</summary>
    private static readonly HashSet<string> MutatingMethods =
        ["append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "popitem", "sort", "reverse"];

    public static bool Has(object? target, string name) => target switch
    {
        string => StringMethods.Contains(name),
        IReadOnlyDictionary<string, object?> => DictMethods.Contains(name) || MutatingMethods.Contains(name),
        IReadOnlyList<object?> => MutatingMethods.Contains(name) || name is "index" or "count",
        _ => false,
    };

    public static JinjaFunction Bind(object? target, string name) => new(name, args => Call(target, name, args));

    public static object? Call(object? target, string name, JinjaArgs args)
    {
        switch (target)
        {
            case string s when StringMethods.Contains(name):
                return CallString(s, name, args);
            case IReadOnlyDictionary<string, object?> d when DictMethods.Contains(name):
                return CallDict(d, name, args);
            case IReadOnlyList<object?> l when name is "index" or "count":
                return CallList(l, name, args);
            case not null when Has(target, name):
                throw new ChatTemplateException($"access to attribute '{name}' of '{PyOps.TypeName(target)}' object is unsafe.");
            case JinjaUndefined u:
                throw u.Error();
            default:
                throw new ChatTemplateException($"'{PyOps.TypeName(target)}' object has no attribute '{name}'");
        }
    }

    private static object? CallString(string s, string name, JinjaArgs a)
    {
        switch (name)
        {
            case "strip": return PyString.Strip(s, OptString(a, 0, "chars"), left: true, right: true);
            case "lstrip": return PyString.Strip(s, OptString(a, 0, "chars"), left: true, right: false);
            case "rstrip": return PyString.Strip(s, OptString(a, 0, "chars"), left: false, right: true);
            case "split": return PyString.Split(s, OptString(a, 0, "sep"), Int(a, 1, "maxsplit", -1));
            case "rsplit": return PyString.RSplit(s, OptString(a, 0, "sep"), Int(a, 1, "maxsplit", -1));
            case "splitlines": return PyString.SplitLines(s, PyOps.IsTruthy(a.Get(0, "keepends", false)));
            case "startswith": return PyString.StartsOrEndsWith(s, a.Get(0, "prefix"), start: true);
            case "endswith": return PyString.StartsOrEndsWith(s, a.Get(0, "suffix"), start: false);
            case "replace": return PyString.Replace(s, Str(a, 0, "old"), Str(a, 1, "new"), Int(a, 2, "count", -1));
            case "upper": return PyString.Upper(s);
            case "lower": return PyString.Lower(s);
            case "title": return PyString.Title(s);
            case "capitalize": return PyString.Capitalize(s);
            case "find": return (long)s.IndexOf(Str(a, 0, "sub"), StringComparison.Ordinal);
            case "rfind": return (long)s.LastIndexOf(Str(a, 0, "sub"), StringComparison.Ordinal);
            case "index" or "rindex":
                int at = name == "index"
                    ? s.IndexOf(Str(a, 0, "sub"), StringComparison.Ordinal)
                    : s.LastIndexOf(Str(a, 0, "sub"), StringComparison.Ordinal);
                return at >= 0 ? (long)at : throw new ChatTemplateException("substring not found");
            case "count":
                {
                    string sub = Str(a, 0, "sub");
                    if (sub.Length == 0)
                    {
                        return (long)PyString.Length(s) + 1;
                    }

                    long n = 0;
                    for (int i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal))
                    {
                        n++;
                    }

                    return n;
                }

            case "join":
                {
                    var parts = new List<string>();
                    foreach (object? item in PyOps.Iterate(a.Get(0, "iterable")))
                    {
                        parts.Add(item as string
                            ?? throw new ChatTemplateException($"sequence item {parts.Count}: expected str instance, {PyOps.TypeName(item)} found"));
                    }

                    return string.Join(s, parts);
                }

            case "isdigit": return PyString.All(s, char.IsDigit);
            case "isalpha": return PyString.All(s, char.IsLetter);
            case "isalnum": return PyString.All(s, char.IsLetterOrDigit);
            case "isspace": return PyString.All(s, PyString.IsSpace);
            case "isupper": return s.Any(char.IsLetter) && !s.Any(char.IsLower);
            case "islower": return s.Any(char.IsLetter) && !s.Any(char.IsUpper);
            case "center": return PyString.Center(s, (int)Int(a, 0, "width", 0), OptString(a, 1, "fillchar") ?? " ");
            case "removeprefix":
                {
                    string p = Str(a, 0, "prefix");
                    return s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s;
                }

            case "removesuffix":
                {
                    string p = Str(a, 0, "suffix");
                    return p.Length > 0 && s.EndsWith(p, StringComparison.Ordinal) ? s[..^p.Length] : s;
                }

            default:
                throw new ChatTemplateException($"'str' object has no attribute '{name}'");
        }
    }

    private static object? CallDict(IReadOnlyDictionary<string, object?> d, string name, JinjaArgs a)
    {
        switch (name)
        {
            case "get":
                object? key = a.Get(0, "key");
                return key is string k && d.TryGetValue(k, out object? v) ? v : a.Get(1, "default");
            case "items":
                {
                    var items = new List<object?>(d.Count);
                    foreach (KeyValuePair<string, object?> kv in d)
                    {
                        items.Add(new PyTuple([kv.Key, kv.Value]));
                    }

                    return items;
                }

            case "keys":
                return new List<object?>(d.Keys);
            default:
                return new List<object?>(d.Values);
        }
    }

    private static object? CallList(IReadOnlyList<object?> l, string name, JinjaArgs a)
    {
        object? needle = a.Get(0, "value");
        long count = 0;
        for (int i = 0; i < l.Count; i++)
        {
            if (PyOps.Equals(l[i], needle))
            {
                if (name == "index")
                {
                    return (long)i;
                }

                count++;
            }
        }

        return name == "index" ? throw new ChatTemplateException($"{PyFormat.Repr(needle)} is not in list") : count;
    }

    private static string? OptString(JinjaArgs a, int index, string name) => a.Get(index, name) switch
    {
        null => null,
        string s => s,
        object o => throw new ChatTemplateException($"{name} must be str or None, not {PyOps.TypeName(o)}"),
    };

    private static string Str(JinjaArgs a, int index, string name) => a.Get(index, name) as string
        ?? throw new ChatTemplateException($"argument '{name}' must be str, not {PyOps.TypeName(a.Get(index, name))}");

    private static long Int(JinjaArgs a, int index, string name, long fallback)
    {
        object? v = a.Get(index, name, fallback);
        return PyOps.TryInteger(v, out long l) ? l : throw new ChatTemplateException($"'{PyOps.TypeName(v)}' object cannot be interpreted as an integer");
    }
}
