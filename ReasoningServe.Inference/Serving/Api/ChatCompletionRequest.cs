using System.Text.Json;

namespace ReasoningServe.Inference.Serving.Api;

/// <summary>POST /v1/chat/completions: OpenAI's fields plus vLLM's extras. Unknown fields are ignored.</summary>
internal sealed class ChatCompletionRequest : SamplingRequest
{
    public List<ChatMessageInput>? Messages { get; set; }
    public int? MaxCompletionTokens { get; set; }
    public bool? Logprobs { get; set; }
    public int? TopLogprobs { get; set; }
    public bool? AddGenerationPrompt { get; set; }
    public bool? ContinueFinalMessage { get; set; }
    public Dictionary<string, JsonElement>? ChatTemplateKwargs { get; set; }
    public string? ReasoningEffort { get; set; }
    public bool? IncludeReasoning { get; set; }
    public int? ThinkingTokenBudget { get; set; }
    public JsonElement? Tools { get; set; }
    public JsonElement? ToolChoice { get; set; }
}

/// <summary>An input message; content is a string or a list of parts; reasoning of earlier turns may come in either field.</summary>
internal sealed class ChatMessageInput
{
    public string? Role { get; set; }
    public JsonElement? Content { get; set; }
    public string? Name { get; set; }
    public JsonElement? ToolCalls { get; set; }
    public string? ToolCallId { get; set; }
    public string? ReasoningContent { get; set; }
    public string? Reasoning { get; set; }
}

internal sealed class StreamOptions
{
    public bool? IncludeUsage { get; set; }
    public bool? ContinuousUsageStats { get; set; }
}
