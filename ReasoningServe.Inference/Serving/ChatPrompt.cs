using System.Text;
using System.Text.Json;
using ReasoningServe.Inference.Serving.Api;
using ReasoningServe.Inference.Serving.Errors;
using ReasoningServe.Inference.Tokenization.ChatTemplates;

namespace ReasoningServe.Inference.Serving;

/// <summary>
/// Chat messages → prompt text and token ids through the model's chat template, with HF apply_chat_template's
/// variables (messages, tools, add_generation_prompt, bos/eos tokens, extra kwargs) and continue_final_message.
/// </summary>
internal static class ChatPrompt
{
    public sealed record Rendered(string Text, int[] TokenIds, IReadOnlyDictionary<string, object?> Kwargs);

    public static Rendered Render(
        ServedModel model,
        List<ChatMessageInput>? messages,
        Dictionary<string, JsonElement>? requestKwargs,
        bool addGenerationPrompt,
        bool continueFinalMessage,
        JsonElement? tools,
        string? reasoningEffort = null,
        bool addSpecialTokens = false)
    {
        if (messages is null || messages.Count == 0)
        {
            throw OpenAIException.BadRequest("'messages' must be a non-empty list.", "messages");
        }
        if (addGenerationPrompt && continueFinalMessage)
        {
            throw OpenAIException.BadRequest(
                "Cannot set both 'add_generation_prompt' and 'continue_final_message' to true.", "continue_final_message");
        }
        var template = model.ChatTemplate
            ?? throw OpenAIException.BadRequest(
                "The model has no chat template (tokenizer_config.json has none and --chat-template was not given).");

        var kwargs = new Dictionary<string, object?>(model.DefaultChatTemplateKwargs, StringComparer.Ordinal);
        if (requestKwargs is not null)
        {
            foreach (var (key, value) in requestKwargs)
            {
                kwargs[key] = ChatValueConverter.FromJson(value);
            }
        }
        if (reasoningEffort is not null)
        {
            kwargs["reasoning_effort"] = reasoningEffort;
            // Hybrid models (Qwen3) switch thinking with enable_thinking; an explicit kwarg still wins.
            kwargs.TryAdd("enable_thinking", reasoningEffort != "none");
        }

        IReadOnlyList<object?>? toolList = tools is { ValueKind: JsonValueKind.Array } t
            ? (IReadOnlyList<object?>?)ChatValueConverter.FromJson(t)
            : null;
        var text = new ChatTemplateRenderer(template).Render(
            Messages(messages), toolList, addGenerationPrompt, continueFinalMessage, kwargs,
            model.Tokenizer.BosToken, model.Tokenizer.EosToken);
        return new Rendered(text, model.Tokenizer.Encode(text, addSpecialTokens), kwargs);
    }

    /// <summary>enable_thinking as the template saw it; Qwen3 thinks unless told not to.</summary>
    public static bool ThinkingEnabled(IReadOnlyDictionary<string, object?> kwargs) =>
        !kwargs.TryGetValue("enable_thinking", out var value) || value is not false;

    private static List<IReadOnlyDictionary<string, object?>> Messages(List<ChatMessageInput> messages)
    {
        var list = new List<IReadOnlyDictionary<string, object?>>(messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (string.IsNullOrEmpty(m.Role))
            {
                throw OpenAIException.BadRequest($"messages[{i}].role is required.", $"messages[{i}].role");
            }
            var message = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["role"] = m.Role,
                ["content"] = Content(m.Content, i),
            };
            if (m.Name is not null)
            {
                message["name"] = m.Name;
            }
            if (m.ToolCalls is { ValueKind: JsonValueKind.Array } calls)
            {
                message["tool_calls"] = ChatValueConverter.FromJson(calls);
            }
            if (m.ToolCallId is not null)
            {
                message["tool_call_id"] = m.ToolCallId;
            }
            // Earlier reasoning reaches the template under the name the templates read, whichever field carried it.
            if ((m.ReasoningContent ?? m.Reasoning) is { } reasoning)
            {
                message["reasoning_content"] = reasoning;
            }
            list.Add(message);
        }
        return list;
    }

    private static string? Content(JsonElement? content, int index)
    {
        if (content is not { } c || c.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (c.ValueKind == JsonValueKind.String)
        {
            return c.GetString();
        }
        if (c.ValueKind != JsonValueKind.Array)
        {
            throw OpenAIException.BadRequest(
                $"messages[{index}].content must be a string or a list of content parts.", $"messages[{index}].content");
        }
        var text = new StringBuilder();
        foreach (var part in c.EnumerateArray())
        {
            if (part.ValueKind == JsonValueKind.Object
                && part.TryGetProperty("type", out var type) && type.ValueEquals("text")
                && part.TryGetProperty("text", out var partText) && partText.ValueKind == JsonValueKind.String)
            {
                // vLLM joins text parts with newlines.
                if (text.Length > 0)
                {
                    text.Append('\n');
                }
                text.Append(partText.GetString());
                continue;
            }
            throw OpenAIException.BadRequest(
                $"messages[{index}].content: only text parts are supported by this model.", $"messages[{index}].content");
        }
        return text.ToString();
    }
}
