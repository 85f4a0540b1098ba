using System.Text.Json;
using System.Text.Json.Nodes;
using ReasoningServe.Inference.Tokenization.ChatTemplates;

namespace ReasoningServe.Tests.ChatTemplates;

/// <summary>The apply_chat_template front door: variables, flags, continue_final_message and request JSON conversion.</summary>
public sealed class ChatTemplateRendererTests
{
    private const string ChatMl =
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        + "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    private static IReadOnlyList<IReadOnlyDictionary<string, object?>> Messages(string json) =>
        ChatValueConverter.MessagesFromJson(JsonDocument.Parse(json).RootElement);

    private static string Render(string template, string messagesJson, bool gen = false, bool cont = false, string? bos = null) =>
        new ChatTemplateRenderer(new ChatTemplate(template)).Render(Messages(messagesJson), null, gen, cont, null, bos, "</s>");

    [Fact]
    public void Generation_prompt_is_appended_when_asked()
    {
        Assert.Equal(
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
            Render(ChatMl, """[{"role": "user", "content": "hi"}]""", gen: true));
    }

    [Fact]
    public void Continue_final_message_cuts_right_after_the_assistant_text()
    {
        Assert.Equal(
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nOnce upon",
            Render(ChatMl, """[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Once upon"}]""", cont: true));
    }

    [Fact]
    public void Continue_final_message_drops_trailing_space_the_template_trimmed()
    {
        const string trimming = "{% for m in messages %}[{{ m.content | trim }}]{% endfor %}";
        Assert.Equal("[hi][Once", Render(trimming, """[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Once  "}]""", cont: true));
        Assert.Equal("[hi][Once  ", Render(ChatMlLikeKeepingSpaces, """[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Once  "}]""", cont: true));
    }

    private const string ChatMlLikeKeepingSpaces = "{% for m in messages %}[{{ m.content }}]{% endfor %}";

    [Fact]
    public void Both_generation_flags_at_once_are_rejected()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(ChatMl, """[{"role": "user", "content": "hi"}]""", gen: true, cont: true));
        Assert.Contains("not compatible", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Continue_final_message_fails_when_the_template_drops_the_text()
    {
        const string dropping = "{% for m in messages %}{{ m.role }}{% endfor %}";
        Assert.Throws<ChatTemplateException>(() => Render(dropping, """[{"role": "assistant", "content": "gone"}]""", cont: true));
    }

    [Fact]
    public void Missing_bos_token_is_undefined_rather_than_none()
    {
        const string source = "{{ bos_token }}|{{ bos_token is defined }}|{{ eos_token }}";
        Assert.Equal("|False|</s>", Render(source, "[]"));
        Assert.Equal("<s>|True|</s>", Render(source, "[]", bos: "<s>"));
    }

    [Fact]
    public void Extra_kwargs_reach_the_template_and_tools_is_none_when_absent()
    {
        var kwargs = new Dictionary<string, object?> { ["enable_thinking"] = false };
        string text = new ChatTemplateRenderer(new ChatTemplate("{{ enable_thinking is false }} {{ tools is none }} {{ documents }}"))
            .Render(Messages("[]"), null, false, false, kwargs, null, null);
        Assert.Equal("True True None", text);
    }

    [Fact]
    public void Json_conversion_keeps_key_order_and_python_number_types()
    {
        JsonElement json = JsonDocument.Parse("""{"z": 1, "a": 1.0, "m": [1e2, -0, "s", null, true], "o": {"y": {}, "x": []}}""").RootElement;
        object? fromElement = ChatValueConverter.FromJson(json);
        object? fromNode = ChatValueConverter.FromJson(JsonNode.Parse(json.GetRawText()));
        const string expected = "{'z': 1, 'a': 1.0, 'm': [100.0, 0, 's', None, True], 'o': {'y': {}, 'x': []}}";
        var template = new ChatTemplate("{{ v }}");
        Assert.Equal(expected, template.Render(new Dictionary<string, object?> { ["v"] = fromElement }));
        Assert.Equal(expected, template.Render(new Dictionary<string, object?> { ["v"] = fromNode }));
    }
}
