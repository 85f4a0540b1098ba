using System.Text.Json;
using ReasoningServe.Inference.Tokenization.ChatTemplates;

namespace ReasoningServe.Tests.ChatTemplates;

/// <summary>
/// Every case in testdata/templates/conformance/cases.json was rendered by Jinja2 configured as transformers configures
/// it (make_cases.py next to it); our interpreter must produce the same text, or fail where Jinja2 failed.
/// </summary>
public sealed class JinjaConformanceTests
{
    public static TheoryData<string> Snippets => ChatTemplateTestData.CaseNames("snippets");

    public static TheoryData<string> Templates => ChatTemplateTestData.CaseNames("templates");

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Snippet_renders_like_jinja2(string name)
    {
        JsonElement c = ChatTemplateTestData.FindCase(ChatTemplateTestData.ConformanceCases("snippets"), name);
        string source = c.GetProperty("template").GetString()!;
        var variables = (IReadOnlyDictionary<string, object?>)ChatValueConverter.FromJson(c.GetProperty("variables"))!;
        if (c.TryGetProperty("error", out JsonElement jinjaError))
        {
            var e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(source).Render(variables));
            Assert.False(string.IsNullOrWhiteSpace(e.Message), $"jinja2 said: {jinjaError.GetString()}");
            return;
        }

        string actual = new ChatTemplate(source).Render(variables);
        ChatTemplateTestData.AssertSameText(c.GetProperty("expected").GetString()!, actual, name);
    }

    [SkippableTheory]
    [MemberData(nameof(Templates))]
    public void Chat_template_renders_like_jinja2(string name)
    {
        JsonElement c = ChatTemplateTestData.FindCase(ChatTemplateTestData.ConformanceCases("templates"), name);
        string file = c.GetProperty("template_file").GetString()!;
        Skip.IfNot(File.Exists(ChatTemplateTestData.PathOf(file)), $"{file} is missing; run tools/fetch-tokenizers.sh");
        var template = new ChatTemplate(ChatTemplateTestData.LoadTemplate(file));
        ChatTemplateTestData.AssertSameText(c.GetProperty("text").GetString()!, ChatTemplateTestData.RenderCase(template, c), name);
    }
}
