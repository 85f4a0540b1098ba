using ReasoningServe.Inference.Tokenization.ChatTemplates;

namespace ReasoningServe.Tests.ChatTemplates;

/// <summary>
/// Readable spot checks of the interpreter. Each expectation is Jinja2's output under transformers' settings
/// (trim_blocks, lstrip_blocks); the exhaustive comparison against Jinja2 itself is JinjaConformanceTests.
/// </summary>
public sealed class ChatTemplateInterpreterTests
{
    private static string Render(string source, params (string Name, object? Value)[] variables)
    {
        var vars = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach ((string name, object? value) in variables)
        {
            vars[name] = value;
        }

        return new ChatTemplate(source).Render(vars);
    }

    private static OrderedDictionary<string, object?> Dict(params (string Key, object? Value)[] items)
    {
        var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach ((string key, object? value) in items)
        {
            d[key] = value;
        }

        return d;
    }

    [Fact]
    public void Block_tags_on_their_own_lines_leave_no_whitespace()
    {
        const string source = "<s>\n{% for m in ms %}\n    {% if m %}\n{{ m }}\n    {% endif %}\n{% endfor %}\n</s>";
        Assert.Equal("<s>\na\nb\n</s>", Render(source, ("ms", new List<object?> { "a", "b" })));
    }

    [Fact]
    public void Minus_markers_strip_whitespace_including_newlines()
    {
        Assert.Equal("a|b", Render("a  \n  {{- '|' -}}  \n  b"));
    }

    [Fact]
    public void Loop_variables_describe_the_position()
    {
        const string source = "{% for x in xs %}{{ loop.index }}/{{ loop.length }}{{ '^' if loop.first }}{{ '$' if loop.last }} {% endfor %}";
        Assert.Equal("1/3^ 2/3 3/3$ ", Render(source, ("xs", new List<object?> { 1L, 2L, 3L })));
    }

    [Fact]
    public void Set_in_a_loop_stays_in_the_loop_but_namespace_attributes_escape()
    {
        const string source =
            "{% set n = 0 %}{% set ns = namespace(n=0) %}{% for x in [1, 2, 3] %}{% set n = n + x %}{% set ns.n = ns.n + x %}{% endfor %}{{ n }} {{ ns.n }}";
        Assert.Equal("0 6", Render(source));
    }

    [Fact]
    public void Reversed_slice_walks_messages_backwards()
    {
        Assert.Equal("cba", Render("{% for m in ms[::-1] %}{{ m }}{% endfor %}", ("ms", new List<object?> { "a", "b", "c" })));
    }

    [Fact]
    public void Missing_message_fields_are_undefined_not_errors()
    {
        var message = Dict(("role", "user"));
        Assert.Equal("[] False True", Render(
            "[{{ m.content }}] {{ m.content is defined }} {{ m.tool_calls is undefined }}",
            ("m", message)));
    }

    [Fact]
    public void Tojson_matches_python_json_dumps()
    {
        var value = Dict(("name", "héllo \"x\""), ("n", 1L), ("f", 1.0), ("l", new List<object?> { true, null }));
        Assert.Equal("{\"name\": \"héllo \\\"x\\\"\", \"n\": 1, \"f\": 1.0, \"l\": [true, null]}", Render("{{ v|tojson }}", ("v", value)));
        Assert.Equal("{\n  \"n\": 1,\n  \"l\": []\n}", Render("{{ v|tojson(indent=2) }}", ("v", Dict(("n", 1L), ("l", new List<object?>())))));
    }

    [Fact]
    public void Values_print_as_python_str()
    {
        Assert.Equal("True None 2.5 3 0.1 ['a', 1] {'k': None}", Render(
            "{{ true }} {{ none }} {{ 5 / 2 }} {{ 7 // 2 }} {{ 0.1 }} {{ ['a', 1] }} {{ {'k': none} }}"));
    }

    [Fact]
    public void Strftime_now_reads_the_clock()
    {
        var template = new ChatTemplate("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M') }}")
        {
            Clock = new FixedClock(new DateTimeOffset(2024, 7, 6, 9, 5, 0, TimeSpan.Zero)),
        };
        Assert.Equal("06 Jul 2024|2024-07-06 09:05", template.Render(new Dictionary<string, object?>()));
    }

    [Fact]
    public void Generation_block_of_transformers_renders_its_body()
    {
        Assert.Equal("<a>hi</a>", Render("<a>{% generation %}{{ 'hi' }}{% endgeneration %}</a>"));
    }

    [Fact]
    public void Raise_exception_becomes_a_chat_template_exception_with_its_message()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("{{ raise_exception('roles must alternate') }}"));
        Assert.Equal("roles must alternate", e.Message);
    }

    [Theory]
    [InlineData("{{ x | no_such_filter }}", "No filter named 'no_such_filter'.")]
    [InlineData("{% if x is no_such_test %}{% endif %}", "No test named 'no_such_test'.")]
    [InlineData("{% for x in y %}", "unexpected end of template")]
    [InlineData("{{ x | truncate(5) }}", "'truncate' is not supported")]
    public void Template_errors_are_reported_when_parsing(string source, string messagePart)
    {
        var e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(source));
        Assert.Contains(messagePart, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{{ missing.attr }}", "'missing' is undefined")]
    [InlineData("{{ 'a' + 1 }}", "unsupported operand type(s) for +: 'str' and 'int'")]
    [InlineData("{{ missing|tojson }}", "not JSON serializable")]
    public void Runtime_errors_name_the_problem(string source, string messagePart)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(source));
        Assert.Contains(messagePart, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void One_parsed_template_renders_many_inputs_independently()
    {
        var template = new ChatTemplate("{% set ns = namespace(s='') %}{% for m in ms %}{% set ns.s = ns.s ~ m %}{% endfor %}{{ ns.s }}");
        string[] results = new string[8];
        Parallel.For(0, results.Length, i =>
            results[i] = template.Render(new Dictionary<string, object?> { ["ms"] = new List<object?> { i.ToString(), "x" } }));
        for (int i = 0; i < results.Length; i++)
        {
            Assert.Equal(i + "x", results[i]);
        }
    }
}
