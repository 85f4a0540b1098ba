using System.Text.Json;
using ReasoningServe.Inference.Tokenization.ChatTemplates;

namespace ReasoningServe.Tests.ChatTemplates;

/// <summary>Locates testdata/ from the test binaries and loads the chat-template case files.</summary>
internal static class ChatTemplateTestData
{
    private static readonly Lazy<JsonDocument> Conformance = new(() =>
        JsonDocument.Parse(File.ReadAllText(PathOf("testdata/templates/conformance/cases.json"))));

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string PathOf(string relative) => Path.Combine(RepoRoot, relative);

    public static JsonElement ConformanceCases(string section) => Conformance.Value.RootElement.GetProperty(section);

    public static JsonElement FindCase(JsonElement cases, string name)
    {
        foreach (JsonElement c in cases.EnumerateArray())
        {
            if (c.GetProperty("name").GetString() == name)
            {
                return c;
            }
        }

        throw new KeyNotFoundException(name);
    }

    public static TheoryData<string> CaseNames(string section)
    {
        var names = new TheoryData<string>();
        foreach (JsonElement c in ConformanceCases(section).EnumerateArray())
        {
            names.Add(c.GetProperty("name").GetString()!);
        }

        return names;
    }

    /// <summary>A template source from a .jinja file or the chat_template of a tokenizer_config.json.</summary>
    public static string LoadTemplate(string relativePath)
    {
        string text = File.ReadAllText(PathOf(relativePath));
        if (!relativePath.EndsWith(".json", StringComparison.Ordinal))
        {
            return text;
        }

        using JsonDocument doc = JsonDocument.Parse(text);
        return doc.RootElement.GetProperty("chat_template").GetString()!;
    }

    /// <summary>
    /// Renders one apply_chat_template case ({messages, tools, kwargs{add_generation_prompt, continue_final_message, ...},
    /// bos_token, eos_token}) through <see cref="ChatTemplateRenderer"/>.
    /// </summary>
    public static string RenderCase(ChatTemplate template, JsonElement c)
    {
        var kwargs = new Dictionary<string, object?>(StringComparer.Ordinal);
        bool addGenerationPrompt = false;
        bool continueFinalMessage = false;
        foreach (JsonProperty p in c.GetProperty("kwargs").EnumerateObject())
        {
            switch (p.Name)
            {
                case "add_generation_prompt":
                    addGenerationPrompt = p.Value.GetBoolean();
                    break;
                case "continue_final_message":
                    continueFinalMessage = p.Value.GetBoolean();
                    break;
                default:
                    kwargs[p.Name] = ChatValueConverter.FromJson(p.Value);
                    break;
            }
        }

        JsonElement tools = c.GetProperty("tools");
        return new ChatTemplateRenderer(template).Render(
            ChatValueConverter.MessagesFromJson(c.GetProperty("messages")),
            tools.ValueKind == JsonValueKind.Null ? null : (IReadOnlyList<object?>)ChatValueConverter.FromJson(tools)!,
            addGenerationPrompt,
            continueFinalMessage,
            kwargs,
            OptionalString(c, "bos_token"),
            OptionalString(c, "eos_token"));
    }

    /// <summary>Fails with the first differing position and the text around it, which is what one needs to fix a template bug.</summary>
    public static void AssertSameText(string expected, string actual, string caseName)
    {
        if (string.Equals(expected, actual, StringComparison.Ordinal))
        {
            return;
        }

        int i = 0;
        while (i < expected.Length && i < actual.Length && expected[i] == actual[i])
        {
            i++;
        }

        static string Around(string s, int at) =>
            JsonSerializer.Serialize(s.Substring(Math.Max(0, at - 40), Math.Min(s.Length, at + 40) - Math.Max(0, at - 40)));
        Assert.Fail(
            $"{caseName}: first difference at char {i} (expected length {expected.Length}, actual {actual.Length})\n"
            + $"expected: ...{Around(expected, i)}...\nactual:   ...{Around(actual, i)}...");
    }

    private static string? OptionalString(JsonElement c, string name) =>
        c.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string FindRepoRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "ReasoningServe.sln")))
            {
                return d.FullName;
            }
        }

        throw new InvalidOperationException("ReasoningServe.sln not found above " + AppContext.BaseDirectory);
    }
}
