using System.Text.Json;

namespace ReasoningServe.Inference.Serving.Api;

/// <summary>POST /tokenize: a prompt, or chat messages rendered through the chat template.</summary>
internal sealed class TokenizeRequest
{
    public string? Model { get; set; }
    public string? Prompt { get; set; }
    public List<ChatMessageInput>? Messages { get; set; }
    public bool? AddGenerationPrompt { get; set; }
    public bool? ContinueFinalMessage { get; set; }
    public bool? AddSpecialTokens { get; set; }
    public Dictionary<string, JsonElement>? ChatTemplateKwargs { get; set; }
    public bool? ReturnTokenStrs { get; set; }
}

internal sealed class TokenizeResponse
{
    public required int Count { get; init; }
    public required int MaxModelLen { get; init; }
    public required int[] Tokens { get; init; }
    public List<string?>? TokenStrs { get; init; }
}

internal sealed class DetokenizeRequest
{
    public string? Model { get; set; }
    public List<int>? Tokens { get; set; }
}

internal sealed class DetokenizeResponse
{
    public required string Prompt { get; init; }
}

internal sealed class VersionResponse
{
    public required string Version { get; init; }
}
