using System.Text.Json.Serialization;

namespace ReasoningServe.Inference.Serving.Api;

internal sealed class ChatCompletionResponse
{
    public required string Id { get; init; }
    public string Object => "chat.completion";
    public required long Created { get; init; }
    public required string Model { get; init; }
    public required List<ChatChoice> Choices { get; init; }
    public required Usage Usage { get; init; }
}

internal sealed class ChatChoice
{
    public required int Index { get; init; }
    public required ChatResponseMessage Message { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public ChatLogprobs? Logprobs { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? FinishReason { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public object? StopReason { get; init; }
}

internal sealed class ChatResponseMessage
{
    public string Role => "assistant";
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? Content { get; init; }
    public string? ReasoningContent { get; init; }
    public string? Reasoning { get; init; }
}

internal sealed class ChatCompletionChunk
{
    public required string Id { get; init; }
    public string Object => "chat.completion.chunk";
    public required long Created { get; init; }
    public required string Model { get; init; }
    public required List<ChatChunkChoice> Choices { get; init; }
    public Usage? Usage { get; set; }
}

internal sealed class ChatChunkChoice
{
    public required int Index { get; init; }
    public required ChatDelta Delta { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public ChatLogprobs? Logprobs { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? FinishReason { get; init; }
    public object? StopReason { get; init; }
}

internal sealed class ChatDelta
{
    public string? Role { get; init; }
    public string? Content { get; init; }
    public string? ReasoningContent { get; init; }
    public string? Reasoning { get; init; }
}

internal sealed class ChatLogprobs
{
    public required List<ChatLogprob> Content { get; init; }
}

internal sealed class ChatLogprob
{
    public required string Token { get; init; }
    public required float Logprob { get; init; }
    public required byte[] Bytes { get; init; }
    public List<ChatTopLogprob>? TopLogprobs { get; init; }
}

internal sealed class ChatTopLogprob
{
    public required string Token { get; init; }
    public required float Logprob { get; init; }
    public required byte[] Bytes { get; init; }
}

internal sealed class Usage
{
    public required int PromptTokens { get; init; }
    public required int CompletionTokens { get; init; }
    public int TotalTokens => PromptTokens + CompletionTokens;
    public PromptTokensDetails? PromptTokensDetails { get; init; }
    public CompletionTokensDetails? CompletionTokensDetails { get; init; }
}

internal sealed class PromptTokensDetails
{
    public required int CachedTokens { get; init; }
}

internal sealed class CompletionTokensDetails
{
    public required int ReasoningTokens { get; init; }
}
