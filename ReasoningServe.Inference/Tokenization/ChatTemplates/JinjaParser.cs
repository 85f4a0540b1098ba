namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>
/// Recursive-descent parser from tokens to <see cref="JinjaNode"/>s, with Jinja2's operator precedence
/// (condexpr &lt; or &lt; and &lt; not &lt; compare &lt; +,- &lt; ~ &lt; *,/,//,% &lt; ** &lt; unary &lt; postfix, filters, tests).
/// </summary>
internal sealed class JinjaParser
{
    private static readonly HashSet<string> CompareOps = ["==", "!=", "<", "<=", ">", ">="];

    private readonly List<JinjaToken> _tokens;
    private int _i;
    private int _loopDepth;

    private JinjaParser(List<JinjaToken> tokens) => _tokens = tokens;

    public static JinjaNode[] Parse(string source)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(source));
        JinjaNode[] body = parser.ParseBody(out string? end);
        if (end is not null)
        {
            throw parser.Error($"unexpected '{end}'");
        }

        return body;
    }

    private JinjaToken Current => _tokens[_i];

    private JinjaToken Peek(int k = 1) => _tokens[Math.Min(_i + k, _tokens.Count - 1)];

    /// <summary>Parses statements until EOF or an end tag; the end tag's keyword is returned with the stream after it.</summary>
    private JinjaNode[] ParseBody(out string? endKeyword, params string[] endKeywords)
    {
        var nodes = new List<JinjaNode>();
        while (true)
        {
            JinjaToken t = Current;
            switch (t.Kind)
            {
                case TokenKind.Eof:
                    if (endKeywords.Length > 0)
                    {
                        throw Error($"unexpected end of template, expected {string.Join(" or ", endKeywords.Select(k => $"'{k}'"))}");
                    }

                    endKeyword = null;
                    return [.. nodes];
                case TokenKind.Data:
                    _i++;
                    nodes.Add(new DataNode(t.Value, t.Line));
                    break;
                case TokenKind.VariableBegin:
                    _i++;
                    JinjaExpr expr = ParseTuple(withCondExpr: true);
                    Expect(TokenKind.VariableEnd);
                    nodes.Add(new OutputNode(expr, t.Line));
                    break;
                case TokenKind.BlockBegin:
                    JinjaToken keyword = Peek();
                    if (keyword.Kind == TokenKind.Name && Array.IndexOf(endKeywords, keyword.Value) >= 0)
                    {
                        _i += 2;
                        endKeyword = keyword.Value;
                        return [.. nodes];
                    }

                    _i++;
                    nodes.Add(ParseStatement());
                    break;
                default:
                    throw Error($"unexpected token '{t.Value}'");
            }
        }
    }

    private JinjaNode ParseStatement()
    {
        JinjaToken t = Current;
        if (t.Kind != TokenKind.Name)
        {
            throw Error("tag name expected");
        }

        _i++;
        switch (t.Value)
        {
            case "if":
                return ParseIf(t.Line);
            case "for":
                return ParseFor(t.Line);
            case "set":
                return ParseSet(t.Line);
            case "macro":
                return ParseMacro(t.Line);
            case "call":
                return ParseCallBlock(t.Line);
            case "filter":
                {
                    FilterExpr filter = ParseFilterChain(null) ?? throw Error("filter name expected");
                    Expect(TokenKind.BlockEnd);
                    JinjaNode[] body = ParseBody(out _, "endfilter");
                    Expect(TokenKind.BlockEnd);
                    return new FilterBlockNode(filter, body, t.Line);
                }

            case "generation":
                {
                    Expect(TokenKind.BlockEnd);
                    JinjaNode[] body = ParseBody(out _, "endgeneration");
                    Expect(TokenKind.BlockEnd);
                    return new GenerationNode(body, t.Line);
                }

            case "break" or "continue":
                if (_loopDepth == 0)
                {
                    throw Error($"'{t.Value}' outside of a loop");
                }

                Expect(TokenKind.BlockEnd);
                return t.Value == "break" ? new BreakNode(t.Line) : new ContinueNode(t.Line);
            default:
                throw Error($"unknown tag '{t.Value}'");
        }
    }

    private IfNode ParseIf(int line)
    {
        JinjaExpr test = ParseTuple(withCondExpr: true);
        Expect(TokenKind.BlockEnd);
        JinjaNode[] body = ParseBody(out string? end, "elif", "else", "endif");
        JinjaNode[] elseBody = [];
        if (end == "elif")
        {
            elseBody = [ParseIf(Current.Line)];
            return new IfNode(test, body, elseBody, line);
        }

        if (end == "else")
        {
            Expect(TokenKind.BlockEnd);
            elseBody = ParseBody(out _, "endif");
        }

        Expect(TokenKind.BlockEnd);
        return new IfNode(test, body, elseBody, line);
    }

    private ForNode ParseFor(int line)
    {
        JinjaExpr target = ParseAssignTarget(allowAttribute: false);
        ExpectName("in");
        JinjaExpr iter = ParseTuple(withCondExpr: false, extraEnd: "recursive");
        JinjaExpr? filter = null;
        if (SkipName("if"))
        {
            filter = ParseExpression();
        }

        if (Current.Kind == TokenKind.Name && Current.Value == "recursive")
        {
            throw Error("recursive loops are not supported");
        }

        Expect(TokenKind.BlockEnd);
        _loopDepth++;
        JinjaNode[] body = ParseBody(out string? end, "else", "endfor");
        _loopDepth--;
        JinjaNode[] elseBody = [];
        if (end == "else")
        {
            Expect(TokenKind.BlockEnd);
            elseBody = ParseBody(out _, "endfor");
        }

        Expect(TokenKind.BlockEnd);
        return new ForNode(target, iter, filter, body, elseBody, line);
    }

    private JinjaNode ParseSet(int line)
    {
        JinjaExpr target = ParseAssignTarget(allowAttribute: true);
        if (SkipOperator("="))
        {
            JinjaExpr value = ParseTuple(withCondExpr: true);
            Expect(TokenKind.BlockEnd);
            return new SetNode(target, value, line);
        }

        FilterExpr? filter = ParseFilterChain(null);
        Expect(TokenKind.BlockEnd);
        JinjaNode[] body = ParseBody(out _, "endset");
        Expect(TokenKind.BlockEnd);
        return new SetBlockNode(target, filter, body, line);
    }

    private MacroNode ParseMacro(int line)
    {
        string name = ExpectToken(TokenKind.Name).Value;
        (string[] names, JinjaExpr?[] defaults) = ParseSignature();
        Expect(TokenKind.BlockEnd);
        int savedDepth = _loopDepth;
        _loopDepth = 0;
        JinjaNode[] body = ParseBody(out _, "endmacro");
        _loopDepth = savedDepth;
        Expect(TokenKind.BlockEnd);
        return new MacroNode(name, names, defaults, body, line);
    }

    private CallBlockNode ParseCallBlock(int line)
    {
        string[] names = [];
        JinjaExpr?[] defaults = [];
        if (Current.Kind == TokenKind.Operator && Current.Value == "(")
        {
            (names, defaults) = ParseSignature();
        }

        JinjaExpr callee = ParseExpression();
        if (callee is not CallExpr call)
        {
            throw Error("expected call");
        }

        Expect(TokenKind.BlockEnd);
        JinjaNode[] body = ParseBody(out _, "endcall");
        Expect(TokenKind.BlockEnd);
        return new CallBlockNode(call, names, defaults, body, line);
    }

    private (string[] Names, JinjaExpr?[] Defaults) ParseSignature()
    {
        ExpectOperator("(");
        var names = new List<string>();
        var defaults = new List<JinjaExpr?>();
        while (!SkipOperator(")"))
        {
            if (names.Count > 0)
            {
                ExpectOperator(",");
                if (SkipOperator(")"))
                {
                    break;
                }
            }

            names.Add(ExpectToken(TokenKind.Name).Value);
            defaults.Add(SkipOperator("=") ? ParseExpression() : null);
        }

        return ([.. names], [.. defaults]);
    }

    /// <summary>A name, a tuple of names, or (for set) a namespace attribute ns.attr.</summary>
    private JinjaExpr ParseAssignTarget(bool allowAttribute)
    {
        var items = new List<JinjaExpr>();
        bool parenthesized = SkipOperator("(");
        do
        {
            if (parenthesized && Current.Kind == TokenKind.Operator && Current.Value == ")")
            {
                break;
            }

            JinjaToken name = ExpectToken(TokenKind.Name);
            if (allowAttribute && Current.Kind == TokenKind.Operator && Current.Value == "." && Peek().Kind == TokenKind.Name)
            {
                _i++;
                string attr = ExpectToken(TokenKind.Name).Value;
                return new AttrExpr(new NameExpr(name.Value, name.Line), attr, name.Line);
            }

            items.Add(new NameExpr(name.Value, name.Line));
        }
        while (SkipOperator(","));

        if (parenthesized)
        {
            ExpectOperator(")");
        }

        return items.Count == 1 && !parenthesized ? items[0] : new TupleExpr([.. items], items[0].Line);
    }

    // ---- expressions ----

    private JinjaExpr ParseExpression(bool withCondExpr = true) => withCondExpr ? ParseCondExpr() : ParseOr();

    /// <summary>Comma-separated expressions form a tuple (a, b); a single one is returned as is.</summary>
    private JinjaExpr ParseTuple(bool withCondExpr, string? extraEnd = null, bool explicitParens = false)
    {
        int line = Current.Line;
        var items = new List<JinjaExpr>();
        bool sawComma = false;
        while (true)
        {
            if (items.Count > 0)
            {
                if (!SkipOperator(","))
                {
                    break;
                }

                sawComma = true;
            }

            if (IsTupleEnd(extraEnd))
            {
                break;
            }

            items.Add(ParseExpression(withCondExpr));
        }

        if (!sawComma)
        {
            if (items.Count == 1)
            {
                return items[0];
            }

            if (!explicitParens)
            {
                throw Error($"expected an expression, got '{Current.Value}'");
            }
        }

        return new TupleExpr([.. items], line);
    }

    private bool IsTupleEnd(string? extraEnd)
    {
        JinjaToken t = Current;
        return t.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.Eof
            || (t.Kind == TokenKind.Operator && t.Value == ")")
            || (extraEnd is not null && t.Kind == TokenKind.Name && t.Value == extraEnd);
    }

    private JinjaExpr ParseCondExpr()
    {
        JinjaExpr expr = ParseOr();
        while (SkipName("if"))
        {
            JinjaExpr test = ParseOr();
            JinjaExpr? otherwise = SkipName("else") ? ParseCondExpr() : null;
            expr = new CondExpr(test, expr, otherwise, expr.Line);
        }

        return expr;
    }

    private JinjaExpr ParseOr()
    {
        JinjaExpr left = ParseAnd();
        while (SkipName("or"))
        {
            left = new OrExpr(left, ParseAnd(), left.Line);
        }

        return left;
    }

    private JinjaExpr ParseAnd()
    {
        JinjaExpr left = ParseNot();
        while (SkipName("and"))
        {
            left = new AndExpr(left, ParseNot(), left.Line);
        }

        return left;
    }

    private JinjaExpr ParseNot()
    {
        if (Current.Kind == TokenKind.Name && Current.Value == "not")
        {
            int line = Current.Line;
            _i++;
            return new NotExpr(ParseNot(), line);
        }

        return ParseCompare();
    }

    private JinjaExpr ParseCompare()
    {
        JinjaExpr first = ParseMath1();
        List<string>? ops = null;
        List<JinjaExpr>? operands = null;
        while (true)
        {
            string op;
            JinjaToken t = Current;
            if (t.Kind == TokenKind.Operator && CompareOps.Contains(t.Value))
            {
                _i++;
                op = t.Value;
            }
            else if (t.Kind == TokenKind.Name && t.Value == "in")
            {
                _i++;
                op = "in";
            }
            else if (t.Kind == TokenKind.Name && t.Value == "not" && Peek().Kind == TokenKind.Name && Peek().Value == "in")
            {
                _i += 2;
                op = "not in";
            }
            else
            {
                break;
            }

            (ops ??= []).Add(op);
            (operands ??= []).Add(ParseMath1());
        }

        return ops is null ? first : new CompareExpr(first, [.. ops], [.. operands!], first.Line);
    }

    private JinjaExpr ParseMath1()
    {
        JinjaExpr left = ParseConcat();
        while (Current.Kind == TokenKind.Operator && Current.Value is "+" or "-")
        {
            string op = Current.Value;
            _i++;
            left = new BinaryExpr(op, left, ParseConcat(), left.Line);
        }

        return left;
    }

    private JinjaExpr ParseConcat()
    {
        JinjaExpr first = ParseMath2();
        if (!(Current.Kind == TokenKind.Operator && Current.Value == "~"))
        {
            return first;
        }

        var parts = new List<JinjaExpr> { first };
        while (SkipOperator("~"))
        {
            parts.Add(ParseMath2());
        }

        return new ConcatExpr([.. parts], first.Line);
    }

    private JinjaExpr ParseMath2()
    {
        JinjaExpr left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            string op = Current.Value;
            _i++;
            left = new BinaryExpr(op, left, ParsePow(), left.Line);
        }

        return left;
    }

    private JinjaExpr ParsePow()
    {
        JinjaExpr left = ParseUnary(withFilter: true);
        while (SkipOperator("**"))
        {
            left = new BinaryExpr("**", left, ParseUnary(withFilter: true), left.Line);
        }

        return left;
    }

    private JinjaExpr ParseUnary(bool withFilter)
    {
        JinjaToken t = Current;
        JinjaExpr node;
        if (t.Kind == TokenKind.Operator && t.Value is "-" or "+")
        {
            _i++;
            node = new UnaryExpr(t.Value[0], ParseUnary(withFilter: false), t.Line);
        }
        else
        {
            node = ParsePrimary();
        }

        node = ParsePostfix(node);
        return withFilter ? ParseFilterExpr(node) : node;
    }

    private JinjaExpr ParsePrimary()
    {
        JinjaToken t = Current;
        _i++;
        switch (t.Kind)
        {
            case TokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new ConstExpr(true, t.Line),
                    "false" or "False" => new ConstExpr(false, t.Line),
                    "none" or "None" => new ConstExpr(null, t.Line),
                    _ => new NameExpr(t.Value, t.Line),
                };
            case TokenKind.String:
                string s = t.Value;
                while (Current.Kind == TokenKind.String)
                {
                    s += Current.Value;
                    _i++;
                }

                return new ConstExpr(s, t.Line);
            case TokenKind.Integer or TokenKind.Float:
                return new ConstExpr(t.Literal, t.Line);
            case TokenKind.Operator when t.Value == "(":
                {
                    JinjaExpr inner = ParseTuple(withCondExpr: true, explicitParens: true);
                    ExpectOperator(")");
                    return inner;
                }

            case TokenKind.Operator when t.Value == "[":
                {
                    var items = new List<JinjaExpr>();
                    while (!SkipOperator("]"))
                    {
                        if (items.Count > 0)
                        {
                            ExpectOperator(",");
                            if (SkipOperator("]"))
                            {
                                break;
                            }
                        }

                        items.Add(ParseExpression());
                    }

                    return new ListExpr([.. items], t.Line);
                }

            case TokenKind.Operator when t.Value == "{":
                {
                    var items = new List<KeyValuePair<JinjaExpr, JinjaExpr>>();
                    while (!SkipOperator("}"))
                    {
                        if (items.Count > 0)
                        {
                            ExpectOperator(",");
                            if (SkipOperator("}"))
                            {
                                break;
                            }
                        }

                        JinjaExpr key = ParseExpression();
                        ExpectOperator(":");
                        items.Add(new(key, ParseExpression()));
                    }

                    return new DictExpr([.. items], t.Line);
                }

            default:
                _i--;
                throw Error($"unexpected '{(t.Kind == TokenKind.Eof ? "end of template" : t.Value)}'");
        }
    }

    private JinjaExpr ParsePostfix(JinjaExpr node)
    {
        while (Current.Kind == TokenKind.Operator)
        {
            switch (Current.Value)
            {
                case ".":
                    _i++;
                    JinjaToken attr = Current;
                    _i++;
                    node = attr.Kind switch
                    {
                        TokenKind.Name => new AttrExpr(node, attr.Value, attr.Line),
                        TokenKind.Integer => new ItemExpr(node, new ConstExpr(attr.Literal, attr.Line), attr.Line),
                        _ => throw Error("expected name or number after '.'"),
                    };
                    break;
                case "[":
                    _i++;
                    node = ParseSubscript(node);
                    break;
                case "(":
                    node = ParseCall(node);
                    break;
                default:
                    return node;
            }
        }

        return node;
    }

    private JinjaExpr ParseSubscript(JinjaExpr target)
    {
        int line = Current.Line;
        var parts = new List<JinjaExpr>();
        while (!SkipOperator("]"))
        {
            if (parts.Count > 0)
            {
                ExpectOperator(",");
            }

            parts.Add(ParseSubscribed());
        }

        if (parts.Count == 1)
        {
            return parts[0] is SliceExpr s ? s with { Target = target } : new ItemExpr(target, parts[0], line);
        }

        return new ItemExpr(target, new TupleExpr([.. parts], line), line);
    }

    /// <summary>One subscript: an expression or a slice start:stop:step (returned as a SliceExpr with a dummy target).</summary>
    private JinjaExpr ParseSubscribed()
    {
        int line = Current.Line;
        JinjaExpr? start = null;
        if (!IsOperator(":"))
        {
            start = ParseExpression();
            if (!IsOperator(":"))
            {
                return start;
            }
        }

        _i++;
        JinjaExpr? stop = IsOperator("]") || IsOperator(",") || IsOperator(":") ? null : ParseExpression();
        JinjaExpr? step = null;
        if (SkipOperator(":") && !IsOperator("]") && !IsOperator(","))
        {
            step = ParseExpression();
        }

        return new SliceExpr(new ConstExpr(null, line), start, stop, step, line);
    }

    private CallExpr ParseCall(JinjaExpr callee)
    {
        int line = Current.Line;
        (JinjaExpr[] args, KeyValuePair<string, JinjaExpr>[] kwargs) = ParseCallArgs();
        return new CallExpr(callee, args, kwargs, line);
    }

    private (JinjaExpr[] Args, KeyValuePair<string, JinjaExpr>[] Kwargs) ParseCallArgs()
    {
        ExpectOperator("(");
        var args = new List<JinjaExpr>();
        var kwargs = new List<KeyValuePair<string, JinjaExpr>>();
        bool first = true;
        while (!SkipOperator(")"))
        {
            if (!first)
            {
                ExpectOperator(",");
                if (SkipOperator(")"))
                {
                    break;
                }
            }

            first = false;
            if (IsOperator("*") || IsOperator("**"))
            {
                throw Error("*args and **kwargs in calls are not supported");
            }

            if (Current.Kind == TokenKind.Name && Peek().Kind == TokenKind.Operator && Peek().Value == "=")
            {
                string key = Current.Value;
                _i += 2;
                kwargs.Add(new(key, ParseExpression()));
            }
            else
            {
                if (kwargs.Count > 0)
                {
                    throw Error("positional argument follows keyword argument");
                }

                args.Add(ParseExpression());
            }
        }

        return ([.. args], [.. kwargs]);
    }

    private JinjaExpr ParseFilterExpr(JinjaExpr node)
    {
        while (true)
        {
            if (IsOperator("|"))
            {
                node = ParseFilterChain(node)!;
            }
            else if (Current.Kind == TokenKind.Name && Current.Value == "is")
            {
                _i++;
                node = ParseTest(node);
            }
            else if (IsOperator("("))
            {
                node = ParseCall(node);
            }
            else
            {
                return node;
            }
        }
    }

    /// <summary>Parses "| f(args) | g" (the leading pipe optional when input is null, as in filter blocks).</summary>
    private FilterExpr? ParseFilterChain(JinjaExpr? input)
    {
        FilterExpr? result = null;
        bool first = true;
        while (IsOperator("|") || (first && input is null && Current.Kind == TokenKind.Name))
        {
            if (IsOperator("|"))
            {
                _i++;
            }

            first = false;
            JinjaToken name = ExpectToken(TokenKind.Name);
            string filterName = name.Value;
            while (IsOperator(".") && Peek().Kind == TokenKind.Name)
            {
                _i++;
                filterName += "." + ExpectToken(TokenKind.Name).Value;
            }

            if (!JinjaFilters.Exists(filterName))
            {
                throw new ChatTemplateException(JinjaFilters.IsUnsupportedBuiltin(filterName)
                    ? $"the Jinja filter '{filterName}' is not supported by this chat template engine"
                    : $"No filter named '{filterName}'.");
            }

            JinjaExpr[] args = [];
            KeyValuePair<string, JinjaExpr>[] kwargs = [];
            if (IsOperator("("))
            {
                (args, kwargs) = ParseCallArgs();
            }

            result = new FilterExpr(result ?? input, filterName, args, kwargs, name.Line);
        }

        return result;
    }

    private JinjaExpr ParseTest(JinjaExpr input)
    {
        bool negated = SkipName("not");
        JinjaToken name = ExpectToken(TokenKind.Name);
        string testName = name.Value;
        while (IsOperator(".") && Peek().Kind == TokenKind.Name)
        {
            _i++;
            testName += "." + ExpectToken(TokenKind.Name).Value;
        }

        if (!JinjaTestFunctions.Exists(testName))
        {
            throw new ChatTemplateException($"No test named '{testName}'.");
        }

        JinjaExpr[] args = [];
        if (IsOperator("("))
        {
            (args, KeyValuePair<string, JinjaExpr>[] kwargs) = ParseCallArgs();
            if (kwargs.Length > 0)
            {
                throw Error("keyword arguments to tests are not supported");
            }
        }
        else if (StartsTestArgument())
        {
            args = [ParsePostfix(ParsePrimary())];
        }

        return new TestExpr(input, testName, args, negated, name.Line);
    }

    /// <summary>"x is divisibleby 3" takes one bare argument; "x is defined and y" does not.</summary>
    private bool StartsTestArgument()
    {
        JinjaToken t = Current;
        return t.Kind switch
        {
            TokenKind.Name => t.Value is not ("else" or "or" or "and" or "is" or "if" or "in" or "not" or "recursive"),
            TokenKind.String or TokenKind.Integer or TokenKind.Float => true,
            TokenKind.Operator => t.Value is "[" or "{",
            _ => false,
        };
    }

    // ---- token helpers ----

    private bool IsOperator(string op) => Current.Kind == TokenKind.Operator && Current.Value == op;

    private bool SkipOperator(string op)
    {
        if (!IsOperator(op))
        {
            return false;
        }

        _i++;
        return true;
    }

    private bool SkipName(string name)
    {
        if (Current.Kind != TokenKind.Name || Current.Value != name)
        {
            return false;
        }

        _i++;
        return true;
    }

    private void ExpectName(string name)
    {
        if (!SkipName(name))
        {
            throw Error($"expected '{name}', got '{Current.Value}'");
        }
    }

    private void ExpectOperator(string op)
    {
        if (!SkipOperator(op))
        {
            throw Error($"expected '{op}', got '{Describe(Current)}'");
        }
    }

    private void Expect(TokenKind kind) => ExpectToken(kind);

    private JinjaToken ExpectToken(TokenKind kind)
    {
        JinjaToken t = Current;
        if (t.Kind != kind)
        {
            throw Error($"expected {Describe(kind)}, got '{Describe(t)}'");
        }

        _i++;
        return t;
    }

    private static string Describe(JinjaToken t) => t.Kind == TokenKind.Eof ? "end of template" : t.Value;

    private static string Describe(TokenKind kind) => kind switch
    {
        TokenKind.BlockEnd => "end of statement block '%}'",
        TokenKind.VariableEnd => "end of print statement '}}'",
        TokenKind.Name => "a name",
        _ => kind.ToString(),
    };

    private ChatTemplateException Error(string message) => new($"template syntax error (line {Current.Line}): {message}");
}
