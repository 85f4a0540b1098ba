namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>
/// A Hugging Face chat template (Jinja) compiled once and rendered per request. Values are plain .NET objects:
/// null, bool, long, double, string, IReadOnlyList&lt;object?&gt;, IReadOnlyDictionary&lt;string, object?&gt;.
/// </summary>
internal sealed class ChatTemplate
{
    private readonly JinjaNode[] _body;

    /// <summary>Parses the template; a syntax error throws <see cref="ChatTemplateException"/>.</summary>
    public ChatTemplate(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        Source = source;
        _body = JinjaParser.Parse(source);
    }

    /// <summary>The template text as given.</summary>
    public string Source { get; }

    /// <summary>The clock strftime_now reads (local time, like Python's datetime.now()).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Renders with the given variables; raise_exception, unknown filters and type errors throw <see cref="ChatTemplateException"/>.</summary>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        try
        {
            return new JinjaEvaluator(variables, Clock).Render(_body);
        }
        catch (Exception e) when (e is InvalidCastException or ArgumentException or OverflowException or IndexOutOfRangeException
            or InvalidOperationException or FormatException)
        {
            // A value of an unexpected shape reached an operation; report it like any other template error.
            throw new ChatTemplateException($"chat template rendering failed: {e.Message}");
        }
    }
}

/// <summary>A template that cannot be parsed or rendered for this input; the API turns it into a 400.</summary>
internal sealed class ChatTemplateException(string message) : Exception(message);
