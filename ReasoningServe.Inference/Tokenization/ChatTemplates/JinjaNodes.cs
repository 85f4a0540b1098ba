namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

// The syntax tree of a parsed template. Nodes are immutable; JinjaEvaluator walks them per render.

internal abstract record JinjaNode(int Line);

// ---- statements ----

internal sealed record DataNode(string Text, int Line) : JinjaNode(Line);

internal sealed record OutputNode(JinjaExpr Expr, int Line) : JinjaNode(Line);

internal sealed record IfNode(JinjaExpr Test, JinjaNode[] Body, JinjaNode[] Else, int Line) : JinjaNode(Line);

internal sealed record ForNode(
    JinjaExpr Target,
    JinjaExpr Iter,
    JinjaExpr? Filter,
    JinjaNode[] Body,
    JinjaNode[] Else,
    int Line) : JinjaNode(Line);

/// <summary>{% set target = value %}; target is a name, a tuple of names or a namespace attribute.</summary>
internal sealed record SetNode(JinjaExpr Target, JinjaExpr Value, int Line) : JinjaNode(Line);

/// <summary>{% set target | filters %}body{% endset %}; Filter's input is a placeholder replaced by the rendered body.</summary>
internal sealed record SetBlockNode(JinjaExpr Target, FilterExpr? Filter, JinjaNode[] Body, int Line) : JinjaNode(Line);

internal sealed record MacroNode(string Name, string[] Params, JinjaExpr?[] Defaults, JinjaNode[] Body, int Line) : JinjaNode(Line);

internal sealed record CallBlockNode(CallExpr Call, string[] CallerParams, JinjaExpr?[] CallerDefaults, JinjaNode[] Body, int Line)
    : JinjaNode(Line);

internal sealed record FilterBlockNode(FilterExpr Filter, JinjaNode[] Body, int Line) : JinjaNode(Line);

/// <summary>Hugging Face's {% generation %} marks assistant spans for masks; for rendering it is transparent.</summary>
internal sealed record GenerationNode(JinjaNode[] Body, int Line) : JinjaNode(Line);

internal sealed record BreakNode(int Line) : JinjaNode(Line);

internal sealed record ContinueNode(int Line) : JinjaNode(Line);

// ---- expressions ----

internal abstract record JinjaExpr(int Line) : JinjaNode(Line);

internal sealed record ConstExpr(object? Value, int Line) : JinjaExpr(Line);

internal sealed record NameExpr(string Name, int Line) : JinjaExpr(Line);

internal sealed record AttrExpr(JinjaExpr Target, string Name, int Line) : JinjaExpr(Line);

internal sealed record ItemExpr(JinjaExpr Target, JinjaExpr Key, int Line) : JinjaExpr(Line);

internal sealed record SliceExpr(JinjaExpr Target, JinjaExpr? Start, JinjaExpr? Stop, JinjaExpr? Step, int Line) : JinjaExpr(Line);

internal sealed record CallExpr(JinjaExpr Callee, JinjaExpr[] Args, KeyValuePair<string, JinjaExpr>[] Kwargs, int Line) : JinjaExpr(Line);

/// <summary>value | name(args); Input is null for the filter of a filter block or block set.</summary>
internal sealed record FilterExpr(JinjaExpr? Input, string Name, JinjaExpr[] Args, KeyValuePair<string, JinjaExpr>[] Kwargs, int Line)
    : JinjaExpr(Line);

internal sealed record TestExpr(JinjaExpr Input, string Name, JinjaExpr[] Args, bool Negated, int Line) : JinjaExpr(Line);

internal sealed record UnaryExpr(char Op, JinjaExpr Operand, int Line) : JinjaExpr(Line);

internal sealed record NotExpr(JinjaExpr Operand, int Line) : JinjaExpr(Line);

internal sealed record BinaryExpr(string Op, JinjaExpr Left, JinjaExpr Right, int Line) : JinjaExpr(Line);

internal sealed record AndExpr(JinjaExpr Left, JinjaExpr Right, int Line) : JinjaExpr(Line);

internal sealed record OrExpr(JinjaExpr Left, JinjaExpr Right, int Line) : JinjaExpr(Line);

/// <summary>A comparison chain: a &lt; b &lt;= c means a &lt; b and b &lt;= c.</summary>
internal sealed record CompareExpr(JinjaExpr First, string[] Ops, JinjaExpr[] Operands, int Line) : JinjaExpr(Line);

internal sealed record ConcatExpr(JinjaExpr[] Parts, int Line) : JinjaExpr(Line);

internal sealed record CondExpr(JinjaExpr Test, JinjaExpr Then, JinjaExpr? Else, int Line) : JinjaExpr(Line);

internal sealed record ListExpr(JinjaExpr[] Items, int Line) : JinjaExpr(Line);

internal sealed record TupleExpr(JinjaExpr[] Items, int Line) : JinjaExpr(Line);

internal sealed record DictExpr(KeyValuePair<JinjaExpr, JinjaExpr>[] Items, int Line) : JinjaExpr(Line);
