using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Serving.Reasoning;
using ReasoningServe.Inference.Tokenization;
using ReasoningServe.Inference.Tokenization.ChatTemplates;

namespace ReasoningServe.Inference.Serving;

/// <summary>Everything the endpoints need to know about the one model this server serves, besides the engine itself.</summary>
internal sealed class ServedModel
{
    public required IReadOnlyList<string> Names { get; init; }
    public string Name => Names[0];
    /// <summary>The model folder, reported as "root" by /v1/models.</summary>
    public required string Root { get; init; }
    public required int MaxModelLen { get; init; }
    public required Tokenizer Tokenizer { get; init; }
    public ChatTemplate? ChatTemplate { get; init; }
    public GenerationConfig Defaults { get; init; } = GenerationConfig.Empty;
    public IReasoningParser? ReasoningParser { get; init; }
    public ReasoningFieldMode ReasoningField { get; init; } = ReasoningFieldMode.Both;
    public IReadOnlyDictionary<string, object?> DefaultChatTemplateKwargs { get; init; } = new Dictionary<string, object?>();
    public long? DefaultSeed { get; init; }
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>Requests may omit the model (vLLM serves its first name then) or name any served name.</summary>
    public void EnsureServes(string? requested)
    {
        if (!string.IsNullOrEmpty(requested) && !Names.Contains(requested))
        {
            throw Errors.OpenAIException.ModelNotFound(requested);
        }
    }
}
