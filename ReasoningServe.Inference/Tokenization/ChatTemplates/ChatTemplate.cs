namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>
/// A Hugging Face chat template (Jinja) compiled once and rendered per request. Values are plain .NET objects:
/// null, bool, long, double, string, IReadOnlyList&lt;object?&gt;, IReadOnlyDictionary&lt;string, object?&gt;.
/// </summary>
internal sealed class ChatTemplate
{
    /// <summary>Parses the template; a syntax error throws <see cref="ChatTemplateException"/>.</summary>
    public ChatTemplate(string source) => throw new NotImplementedException();

    /// <summary>Renders with the given variables; raise_exception, unknown filters and type errors throw <see cref="ChatTemplateException"/>.</summary>
    public string Render(IReadOnlyDictionary<string, object?> variables) => throw new NotImplementedException();
}

/// <summary>A template that cannot be parsed or rendered for this input; the API turns it into a 400.</summary>
internal sealed class ChatTemplateException(string message) : Exception(message);
