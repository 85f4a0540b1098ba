namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>Jinja's tests: "x is defined", "x is not none", "x is string", "x is equalto y", ...</summary>
internal static class JinjaTestFunctions
{
    private static readonly HashSet<string> Names =
    [
        "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number", "string", "mapping",
        "iterable", "sequence", "callable", "sameas", "escaped", "odd", "even", "divisibleby", "lower", "upper", "in",
        "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=",
        "filter", "test",
    ];

    public static bool Exists(string name) => Names.Contains(name);

    public static bool Run(string name, object? value, object?[] args)
    {
        switch (name)
        {
            case "defined": return value is not JinjaUndefined;
            case "undefined": return value is JinjaUndefined;
            case "none": return value is null;
            case "boolean": return value is bool;
            case "true": return value is true;
            case "false": return value is false;
            case "integer": return value is long or int;
            case "float": return value is double or float;
            case "number": return PyOps.IsNumber(value);
            case "string": return value is string;
            case "mapping": return value is IReadOnlyDictionary<string, object?>;
            case "iterable": return value is string or IReadOnlyList<object?> or IReadOnlyDictionary<string, object?> or JinjaUndefined;
            case "sequence": return value is string or IReadOnlyList<object?> or IReadOnlyDictionary<string, object?> or JinjaUndefined;
            case "callable": return value is JinjaFunction;
            case "sameas":
                object? other = Arg(args, name);
                return value is null || value is bool || PyOps.IsNumber(value)
                    ? Equals(value, other) && value?.GetType() == other?.GetType()
                    : ReferenceEquals(value, other);
            case "escaped": return false;
            case "odd": return Integer(value, name) % 2 != 0;
            case "even": return Integer(value, name) % 2 == 0;
            case "divisibleby":
                long divisor = Integer(Arg(args, name), name);
                return divisor == 0 ? throw new ChatTemplateException("integer division or modulo by zero") : Integer(value, name) % divisor == 0;
            case "lower":
                string lower = PyFormat.Str(value);
                return lower.Any(char.IsLetter) && !lower.Any(char.IsUpper);
            case "upper":
                string upper = PyFormat.Str(value);
                return upper.Any(char.IsLetter) && !upper.Any(char.IsLower);
            case "in": return PyOps.Contains(Arg(args, name), value);
            case "eq" or "equalto" or "==": return PyOps.Equals(value, Arg(args, name));
            case "ne" or "!=": return !PyOps.Equals(value, Arg(args, name));
            case "lt" or "lessthan" or "<": return PyOps.Compare(value, Arg(args, name), "<") < 0;
            case "le" or "<=": return PyOps.Compare(value, Arg(args, name), "<=") <= 0;
            case "gt" or "greaterthan" or ">": return PyOps.Compare(value, Arg(args, name), ">") > 0;
            case "ge" or ">=": return PyOps.Compare(value, Arg(args, name), ">=") >= 0;
            case "filter": return value is string f && JinjaFilters.Exists(f);
            case "test": return value is string t && Exists(t);
            default: throw new ChatTemplateException($"No test named '{name}'.");
        }
    }

    private static object? Arg(object?[] args, string test) =>
        args.Length > 0 ? args[0] : throw new ChatTemplateException($"test '{test}' needs an argument");

    private static long Integer(object? value, string test)
    {
        if (PyOps.TryInteger(value, out long l))
        {
            return l;
        }

        if (value is double d && d == Math.Floor(d))
        {
            return (long)d;
        }

        throw value is JinjaUndefined u ? u.Error() : new ChatTemplateException($"test '{test}' needs an integer, got {PyOps.TypeName(value)}");
    }
}
