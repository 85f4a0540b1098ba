using System.Text;

namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>
/// Renders a parsed template for one set of variables. Scoping follows Jinja: for-loop bodies and macros get
/// their own scope per iteration/call (so plain "set" inside a loop does not leak out; namespace() is the way),
/// while if-blocks share the enclosing one.
/// </summary>
internal sealed class JinjaEvaluator
{
    private enum Flow
    {
        Normal,
        Break,
        Continue,
    }

    private readonly IReadOnlyDictionary<string, object?> _variables;
    private readonly TimeProvider _clock;

    public JinjaEvaluator(IReadOnlyDictionary<string, object?> variables, TimeProvider clock)
    {
        _variables = variables;
        _clock = clock;
    }

    public string Render(JinjaNode[] body)
    {
        var sb = new StringBuilder(1024);
        Exec(body, new Scope(null), sb);
        return sb.ToString();
    }

    private sealed class Scope(Scope? parent)
    {
        private Dictionary<string, object?>? _vars;

        public Scope? Parent { get; } = parent;

        public bool TryGet(string name, out object? value)
        {
            for (Scope? s = this; s is not null; s = s.Parent)
            {
                if (s._vars is not null && s._vars.TryGetValue(name, out value))
                {
                    return true;
                }
            }

            value = null;
            return false;
        }

        public void Set(string name, object? value) => (_vars ??= new Dictionary<string, object?>(StringComparer.Ordinal))[name] = value;

        public void Clear() => _vars?.Clear();
    }

    // ---- statements ----

    private Flow Exec(JinjaNode[] nodes, Scope scope, StringBuilder sb)
    {
        foreach (JinjaNode node in nodes)
        {
            Flow flow = Exec(node, scope, sb);
            if (flow != Flow.Normal)
            {
                return flow;
            }
        }

        return Flow.Normal;
    }

    private Flow Exec(JinjaNode node, Scope scope, StringBuilder sb)
    {
        switch (node)
        {
            case DataNode d:
                sb.Append(d.Text);
                return Flow.Normal;
            case OutputNode o:
                PyFormat.AppendStr(sb, Eval(o.Expr, scope));
                return Flow.Normal;
            case IfNode i:
                return Exec(PyOps.IsTruthy(Eval(i.Test, scope)) ? i.Body : i.Else, scope, sb);
            case ForNode f:
                ExecFor(f, scope, sb);
                return Flow.Normal;
            case SetNode s:
                Assign(s.Target, Eval(s.Value, scope), scope);
                return Flow.Normal;
            case SetBlockNode b:
                {
                    var inner = new StringBuilder();
                    Exec(b.Body, new Scope(scope), inner);
                    object? value = inner.ToString();
                    if (b.Filter is not null)
                    {
                        value = ApplyFilterChain(b.Filter, value, scope);
                    }

                    Assign(b.Target, value, scope);
                    return Flow.Normal;
                }

            case MacroNode m:
                scope.Set(m.Name, MakeMacro(m.Name, m.Params, m.Defaults, m.Body, scope));
                return Flow.Normal;
            case CallBlockNode c:
                ExecCallBlock(c, scope, sb);
                return Flow.Normal;
            case FilterBlockNode fb:
                {
                    var inner = new StringBuilder();
                    Exec(fb.Body, new Scope(scope), inner);
                    PyFormat.AppendStr(sb, ApplyFilterChain(fb.Filter, inner.ToString(), scope));
                    return Flow.Normal;
                }

            case GenerationNode g:
                return Exec(g.Body, scope, sb);
            case BreakNode:
                return Flow.Break;
            case ContinueNode:
                return Flow.Continue;
            default:
                throw new ChatTemplateException($"cannot execute {node.GetType().Name}");
        }
    }

    private void ExecFor(ForNode f, Scope scope, StringBuilder sb)
    {
        IReadOnlyList<object?> items = PyOps.Iterate(Eval(f.Iter, scope));
        if (f.Filter is not null)
        {
            var filtered = new List<object?>();
            var filterScope = new Scope(scope);
            foreach (object? item in items)
            {
                filterScope.Clear();
                Assign(f.Target, item, filterScope);
                if (PyOps.IsTruthy(Eval(f.Filter, filterScope)))
                {
                    filtered.Add(item);
                }
            }

            items = filtered;
        }

        if (items.Count == 0)
        {
            Exec(f.Else, new Scope(scope), sb);
            return;
        }

        var loop = new LoopContext(items);
        var body = new Scope(scope);
        for (int i = 0; i < items.Count; i++)
        {
            body.Clear();
            loop.Index0 = i;
            body.Set("loop", loop);
            Assign(f.Target, items[i], body);
            if (Exec(f.Body, body, sb) == Flow.Break)
            {
                break;
            }
        }
    }

    private void Assign(JinjaExpr target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameExpr n:
                scope.Set(n.Name, value);
                break;
            case TupleExpr t:
                IReadOnlyList<object?> items = PyOps.Iterate(value);
                if (items.Count != t.Items.Length)
                {
                    throw new ChatTemplateException(items.Count > t.Items.Length
                        ? $"too many values to unpack (expected {t.Items.Length})"
                        : $"not enough values to unpack (expected {t.Items.Length}, got {items.Count})");
                }

                for (int i = 0; i < items.Count; i++)
                {
                    Assign(t.Items[i], items[i], scope);
                }

                break;
            case AttrExpr { Target: NameExpr owner } a:
                if (Lookup(owner.Name, scope) is not JinjaNamespace ns)
                {
                    throw new ChatTemplateException("cannot assign attribute on non-namespace object");
                }

                ns.Attributes[a.Name] = value;
                break;
            default:
                throw new ChatTemplateException("cannot assign to this expression");
        }
    }

    private void ExecCallBlock(CallBlockNode c, Scope scope, StringBuilder sb)
    {
        JinjaFunction caller = MakeMacro("caller", c.CallerParams, c.CallerDefaults, c.Body, scope);
        object? callee = Eval(c.Call.Callee, scope);
        JinjaArgs args = EvalArgs(c.Call.Args, c.Call.Kwargs, scope);
        var keywords = new KeyValuePair<string, object?>[args.Keywords.Length + 1];
        args.Keywords.CopyTo(keywords, 0);
        keywords[^1] = new("caller", caller);
        PyFormat.AppendStr(sb, Invoke(callee, new JinjaArgs(args.Positional, keywords)));
    }

    private JinjaFunction MakeMacro(string name, string[] parameters, JinjaExpr?[] defaults, JinjaNode[] body, Scope definingScope) =>
        new(name, args =>
        {
            if (args.Count > parameters.Length)
            {
                throw new ChatTemplateException($"macro '{name}' takes not more than {parameters.Length} argument(s)");
            }

            var scope = new Scope(definingScope);
            for (int i = 0; i < parameters.Length; i++)
            {
                object? value = args.Has(i, parameters[i])
                    ? args.Get(i, parameters[i])
                    : defaults[i] is { } d ? Eval(d, scope) : JinjaUndefined.Missing(parameters[i]);
                scope.Set(parameters[i], value);
            }

            foreach (KeyValuePair<string, object?> kv in args.Keywords)
            {
                if (kv.Key == "caller")
                {
                    scope.Set("caller", kv.Value);
                }
                else if (Array.IndexOf(parameters, kv.Key) < 0)
                {
                    throw new ChatTemplateException($"macro '{name}' takes no keyword argument '{kv.Key}'");
                }
            }

            var sb = new StringBuilder();
            Exec(body, scope, sb);
            return sb.ToString();
        });

    // ---- expressions ----

    private object? Lookup(string name, Scope scope)
    {
        if (scope.TryGet(name, out object? value) || _variables.TryGetValue(name, out value) || JinjaGlobals.TryGet(name, _clock, out value))
        {
            return value;
        }

        return JinjaUndefined.Missing(name);
    }

    private object? Eval(JinjaExpr expr, Scope scope)
    {
        switch (expr)
        {
            case ConstExpr c:
                return c.Value;
            case NameExpr n:
                return Lookup(n.Name, scope);
            case AttrExpr a:
                return PyOps.GetAttr(Eval(a.Target, scope), a.Name);
            case ItemExpr i:
                return PyOps.GetItem(Eval(i.Target, scope), Eval(i.Key, scope));
            case CompareExpr c:
                return EvalCompare(c, scope);
            case AndExpr a:
                {
                    object? left = Eval(a.Left, scope);
                    return PyOps.IsTruthy(left) ? Eval(a.Right, scope) : left;
                }

            case OrExpr o:
                {
                    object? left = Eval(o.Left, scope);
                    return PyOps.IsTruthy(left) ? left : Eval(o.Right, scope);
                }

            case NotExpr n:
                return !PyOps.IsTruthy(Eval(n.Operand, scope));
            case TestExpr t:
                return EvalTest(t, scope);
            case FilterExpr f:
                return ApplyFilterChain(f, null, scope);
            case CallExpr c:
                return EvalCall(c, scope);
            case BinaryExpr b:
                return PyOps.Binary(b.Op, Eval(b.Left, scope), Eval(b.Right, scope));
            case ConcatExpr c:
                {
                    var sb = new StringBuilder();
                    foreach (JinjaExpr part in c.Parts)
                    {
                        PyFormat.AppendStr(sb, Eval(part, scope));
                    }

                    return sb.ToString();
                }

            case CondExpr c:
                return PyOps.IsTruthy(Eval(c.Test, scope))
                    ? Eval(c.Then, scope)
                    : c.Else is null ? JinjaUndefined.Plain : Eval(c.Else, scope);
            case SliceExpr s:
                return PyOps.Slice(
                    Eval(s.Target, scope),
                    s.Start is null ? null : Eval(s.Start, scope),
                    s.Stop is null ? null : Eval(s.Stop, scope),
                    s.Step is null ? null : Eval(s.Step, scope));
            case UnaryExpr u:
                {
                    object? operand = Eval(u.Operand, scope);
                    if (u.Op == '-')
                    {
                        return PyOps.Negate(operand);
                    }

                    return PyOps.IsNumber(operand) ? operand : throw PyOps.Undefined(operand)
                        ?? new ChatTemplateException($"bad operand type for unary +: '{PyOps.TypeName(operand)}'");
                }

            case ListExpr l:
                {
                    var list = new List<object?>(l.Items.Length);
                    foreach (JinjaExpr item in l.Items)
                    {
                        list.Add(Eval(item, scope));
                    }

                    return list;
                }

            case TupleExpr t:
                {
                    object?[] items = new object?[t.Items.Length];
                    for (int i = 0; i < items.Length; i++)
                    {
                        items[i] = Eval(t.Items[i], scope);
                    }

                    return new PyTuple(items);
                }

            case DictExpr d:
                {
                    var dict = new OrderedDictionary<string, object?>(d.Items.Length, StringComparer.Ordinal);
                    foreach (KeyValuePair<JinjaExpr, JinjaExpr> kv in d.Items)
                    {
                        if (Eval(kv.Key, scope) is not string key)
                        {
                            throw new ChatTemplateException("only string keys are supported in dict literals");
                        }

                        dict[key] = Eval(kv.Value, scope);
                    }

                    return dict;
                }

            default:
                throw new ChatTemplateException($"cannot evaluate {expr.GetType().Name}");
        }
    }

    private bool EvalCompare(CompareExpr c, Scope scope)
    {
        object? left = Eval(c.First, scope);
        for (int i = 0; i < c.Ops.Length; i++)
        {
            object? right = Eval(c.Operands[i], scope);
            string op = c.Ops[i];
            bool ok = op switch
            {
                "==" => PyOps.Equals(left, right),
                "!=" => !PyOps.Equals(left, right),
                "<" => PyOps.Compare(left, right, op) < 0,
                "<=" => PyOps.Compare(left, right, op) <= 0,
                ">" => PyOps.Compare(left, right, op) > 0,
                ">=" => PyOps.Compare(left, right, op) >= 0,
                "in" => PyOps.Contains(right, left),
                _ => !PyOps.Contains(right, left),
            };
            if (!ok)
            {
                return false;
            }

            left = right;
        }

        return true;
    }

    private bool EvalTest(TestExpr t, Scope scope)
    {
        object? value = Eval(t.Input, scope);
        object?[] args = t.Args.Length == 0 ? [] : new object?[t.Args.Length];
        for (int i = 0; i < args.Length; i++)
        {
            args[i] = Eval(t.Args[i], scope);
        }

        return JinjaTestFunctions.Run(t.Name, value, args) != t.Negated;
    }

    /// <summary>Applies a chain of filters; the innermost filter's input is its expression, or pipeInput for filter blocks.</summary>
    private object? ApplyFilterChain(FilterExpr f, object? pipeInput, Scope scope)
    {
        object? input = f.Input switch
        {
            null => pipeInput,
            FilterExpr inner => ApplyFilterChain(inner, pipeInput, scope),
            JinjaExpr e => Eval(e, scope),
        };
        return JinjaFilters.Apply(this, f.Name, input, EvalArgs(f.Args, f.Kwargs, scope));
    }

    private object? EvalCall(CallExpr c, Scope scope)
    {
        if (c.Callee is AttrExpr a)
        {
            object? target = Eval(a.Target, scope);
            if (JinjaMethods.Has(target, a.Name))
            {
                return JinjaMethods.Call(target, a.Name, EvalArgs(c.Args, c.Kwargs, scope));
            }

            return Invoke(PyOps.GetAttr(target, a.Name), EvalArgs(c.Args, c.Kwargs, scope));
        }

        return Invoke(Eval(c.Callee, scope), EvalArgs(c.Args, c.Kwargs, scope));
    }

    private static object? Invoke(object? callee, JinjaArgs args) => callee switch
    {
        JinjaFunction f => f.Invoke(args),
        JinjaUndefined u => throw u.Error(),
        _ => throw new ChatTemplateException($"'{PyOps.TypeName(callee)}' object is not callable"),
    };

    private JinjaArgs EvalArgs(JinjaExpr[] args, KeyValuePair<string, JinjaExpr>[] kwargs, Scope scope)
    {
        if (args.Length == 0 && kwargs.Length == 0)
        {
            return JinjaArgs.None;
        }

        object?[] positional = args.Length == 0 ? [] : new object?[args.Length];
        for (int i = 0; i < args.Length; i++)
        {
            positional[i] = Eval(args[i], scope);
        }

        var keywords = kwargs.Length == 0 ? [] : new KeyValuePair<string, object?>[kwargs.Length];
        for (int i = 0; i < kwargs.Length; i++)
        {
            keywords[i] = new(kwargs[i].Key, Eval(kwargs[i].Value, scope));
        }

        return new JinjaArgs(positional, keywords);
    }

    /// <summary>Jinja's attribute lookup for map/selectattr/sort: dotted paths, integer parts index sequences.</summary>
    public object? GetAttribute(object? item, object? attribute)
    {
        if (attribute is not string path)
        {
            return PyOps.GetItem(item, attribute);
        }

        object? value = item;
        foreach (string part in path.Split('.'))
        {
            value = long.TryParse(part, out long index) && value is IReadOnlyList<object?>
                ? PyOps.GetItem(value, index)
                : PyOps.GetItem(value, part);
            if (value is JinjaUndefined)
            {
                break;
            }
        }

        return value;
    }
}
