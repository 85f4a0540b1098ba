namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>
/// The server's front door to chat templates, with the semantics of transformers' apply_chat_template(tokenize=False):
/// the template sees the special tokens, the extra kwargs (chat_template_kwargs), messages, tools, documents and
/// add_generation_prompt; continue_final_message cuts the text right after the final message's content.
/// </summary>
internal sealed class ChatTemplateRenderer
{
    private readonly IReadOnlyDictionary<string, string> _specialTokens;

    /// <param name="template">The compiled template.</param>
    /// <param name="specialTokens">Further special tokens HF passes by name (unk_token, pad_token, ...); bos/eos come per call.</param>
    public ChatTemplateRenderer(ChatTemplate template, IReadOnlyDictionary<string, string>? specialTokens = null)
    {
        Template = template;
        _specialTokens = specialTokens ?? new Dictionary<string, string>();
    }

    public ChatTemplate Template { get; }

    public string Render(
        IReadOnlyList<IReadOnlyDictionary<string, object?>> messages,
        IReadOnlyList<object?>? tools,
        bool addGenerationPrompt,
        bool continueFinalMessage,
        IReadOnlyDictionary<string, object?>? extraKwargs,
        string? bosToken,
        string? eosToken)
    {
        if (continueFinalMessage && addGenerationPrompt)
        {
            throw new ChatTemplateException(
                "continue_final_message and add_generation_prompt are not compatible. Use continue_final_message when you want "
                + "the model to continue the final message, and add_generation_prompt when you want to add a header that will "
                + "prompt it to start a new assistant message instead.");
        }

        string text = Template.Render(BuildVariables(messages, tools, addGenerationPrompt, extraKwargs, bosToken, eosToken));
        return continueFinalMessage ? CutAfterFinalMessage(text, messages) : text;
    }

    /// <summary>Special tokens first, then kwargs over them, then the named arguments, as HF builds its render call.</summary>
    private Dictionary<string, object?> BuildVariables(
        IReadOnlyList<IReadOnlyDictionary<string, object?>> messages,
        IReadOnlyList<object?>? tools,
        bool addGenerationPrompt,
        IReadOnlyDictionary<string, object?>? extraKwargs,
        string? bosToken,
        string? eosToken)
    {
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (KeyValuePair<string, string> kv in _specialTokens)
        {
            variables[kv.Key] = kv.Value;
        }

        // HF's special_tokens_map leaves out tokens that are not set, so a missing BOS is undefined, not None.
        if (bosToken is not null)
        {
            variables["bos_token"] = bosToken;
        }

        if (eosToken is not null)
        {
            variables["eos_token"] = eosToken;
        }

        if (extraKwargs is not null)
        {
            foreach (KeyValuePair<string, object?> kv in extraKwargs)
            {
                variables[kv.Key] = kv.Value;
            }
        }

        variables["messages"] = messages;
        variables["tools"] = tools;
        variables["documents"] = null;
        variables["add_generation_prompt"] = addGenerationPrompt;
        return variables;
    }

    /// <summary>
    /// HF's continue_final_message: find the last occurrence of the final content (stripped) and cut after it, keeping
    /// the content's leading/trailing whitespace only when the template kept it too.
    /// </summary>
    private static string CutAfterFinalMessage(string rendered, IReadOnlyList<IReadOnlyDictionary<string, object?>> messages)
    {
        if (messages.Count == 0)
        {
            throw new ChatTemplateException("continue_final_message is set but there are no messages");
        }

        string final = FinalText(messages[^1]);
        string stripped = PyString.Strip(final, null, left: true, right: true);
        int at = rendered.LastIndexOf(stripped, StringComparison.Ordinal);
        if (at < 0)
        {
            throw new ChatTemplateException(
                "continue_final_message is set but the final message does not appear in the chat after applying the chat "
                + "template! This can happen if the chat template deletes portions of the final message. Please verify the "
                + "chat template and final message in your chat to ensure they are compatible.");
        }

        int keepLeft = PyString.Strip(final, null, left: true, right: false).Length;
        int end = Math.Min(rendered.Length, at + keepLeft);
        bool spacingKept = string.Equals(rendered[at..end], final, StringComparison.Ordinal);
        return rendered[..Math.Min(rendered.Length, at + (spacingKept ? keepLeft : stripped.Length))];
    }

    /// <summary>The final message's text: its string content, or the last text block of a content list.</summary>
    private static string FinalText(IReadOnlyDictionary<string, object?> message)
    {
        message.TryGetValue("content", out object? content);
        switch (content)
        {
            case string s:
                return s;
            case IReadOnlyList<object?> blocks:
                for (int i = blocks.Count - 1; i >= 0; i--)
                {
                    if (blocks[i] is IReadOnlyDictionary<string, object?> block && block.TryGetValue("text", out object? text))
                    {
                        return text as string ?? throw new ChatTemplateException("the final message's text block is not a string");
                    }
                }

                throw new ChatTemplateException(
                    "continue_final_message is set but we could not find any text to continue in the final message!");
            default:
                throw new ChatTemplateException("continue_final_message is set but the final message has no text content");
        }
    }
}
