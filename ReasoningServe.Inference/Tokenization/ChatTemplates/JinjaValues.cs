namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

// Runtime values a template can produce beyond the plain model (null, bool, long, double, string,
// IReadOnlyList<object?>, IReadOnlyDictionary<string, object?>).

/// <summary>
/// Jinja's default Undefined: prints as "", iterates as empty, is falsy and has length 0; any other use
/// (attribute access, arithmetic, JSON) is an error naming what was missing.
/// </summary>
internal sealed class JinjaUndefined
{
    public static readonly JinjaUndefined Plain = new(null, null, hasOwner: false);

    private readonly object? _owner;
    private readonly bool _hasOwner;

    private JinjaUndefined(string? name, object? owner, bool hasOwner)
    {
        Name = name;
        _owner = owner;
        _hasOwner = hasOwner;
    }

    public string? Name { get; }

    public static JinjaUndefined Missing(string name) => new(name, null, hasOwner: false);

    public static JinjaUndefined MissingAttribute(object? owner, string name) => new(name, owner, hasOwner: true);

    public string Message => Name is null
        ? "undefined value"
        : _hasOwner
            ? $"'{PyOps.TypeName(_owner)} object' has no attribute '{Name}'"
            : $"'{Name}' is undefined";

    public ChatTemplateException Error() => new(Message);
}

/// <summary>A Python tuple: prints as (a, b) and is not equal to a list with the same items.</summary>
internal sealed class PyTuple(object?[] items) : IReadOnlyList<object?>
{
    public static readonly PyTuple Empty = new([]);

    public object?[] Items { get; } = items;

    public int Count => Items.Length;

    public object? this[int index] => Items[index];

    public IEnumerator<object?> GetEnumerator() => ((IEnumerable<object?>)Items).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => Items.GetEnumerator();
}

/// <summary>namespace(): the one mutable object templates have, so loops can carry state out (set ns.x = ...).</summary>
internal sealed class JinjaNamespace
{
    public OrderedDictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>Python's range object: lazily a list of ints, printed as range(start, stop[, step]).</summary>
internal sealed class PyRange(long start, long stop, long step) : IReadOnlyList<object?>
{
    public long Start { get; } = start;

    public long Stop { get; } = stop;

    public long Step { get; } = step;

    public int Count
    {
        get
        {
            long n = Step > 0 ? (Stop - Start + Step - 1) / Step : (Start - Stop - Step - 1) / -Step;
            return (int)Math.Max(0, n);
        }
    }

    public object? this[int index] => Start + (index * Step);

    public IEnumerator<object?> GetEnumerator()
    {
        int n = Count;
        for (int i = 0; i < n; i++)
        {
            yield return Start + (i * Step);
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Positional and keyword arguments of one call.</summary>
internal readonly record struct JinjaArgs(object?[] Positional, KeyValuePair<string, object?>[] Keywords)
{
    public static readonly JinjaArgs None = new([], []);

    public int Count => Positional.Length;

    /// <summary>The argument at position index or named name, else the default; like a Python signature.</summary>
    public object? Get(int index, string name, object? fallback = null)
    {
        foreach (KeyValuePair<string, object?> kv in Keywords)
        {
            if (kv.Key == name)
            {
                return kv.Value;
            }
        }

        return index >= 0 && index < Positional.Length ? Positional[index] : fallback;
    }

    public bool Has(int index, string name)
    {
        foreach (KeyValuePair<string, object?> kv in Keywords)
        {
            if (kv.Key == name)
            {
                return true;
            }
        }

        return index >= 0 && index < Positional.Length;
    }
}

/// <summary>Anything callable from a template: globals, bound methods, macros, caller().</summary>
internal sealed class JinjaFunction(string name, Func<JinjaArgs, object?> invoke)
{
    public string Name { get; } = name;

    public object? Invoke(JinjaArgs args) => invoke(args);
}

/// <summary>The loop variable of a for loop.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items)
{
    public IReadOnlyList<object?> Items { get; } = items;

    public int Index0 { get; set; }

    public int Length => Items.Count;

    public object? Get(string attribute) => attribute switch
    {
        "index" => (long)(Index0 + 1),
        "index0" => (long)Index0,
        "revindex" => (long)(Length - Index0),
        "revindex0" => (long)(Length - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == Length - 1,
        "length" => (long)Length,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? Items[Index0 - 1] : JinjaUndefined.Missing("previtem"),
        "nextitem" => Index0 + 1 < Length ? Items[Index0 + 1] : JinjaUndefined.Missing("nextitem"),
        "cycle" => new JinjaFunction("cycle", args =>
            args.Count == 0 ? throw new ChatTemplateException("no items for cycling given") : args.Positional[Index0 % args.Count]),
        _ => JinjaUndefined.MissingAttribute(this, attribute),
    };
}
