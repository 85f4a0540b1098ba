using System.Text.Json.Serialization;

namespace ReasoningServe.Inference.Serving.Api;

internal sealed class CompletionResponse
{
    public required string Id { get; init; }
    public string Object => "text_completion";
    public required long Created { get; init; }
    public required string Model { get; init; }
    public required List<CompletionChoice> Choices { get; init; }
    public Usage? Usage { get; set; }
}

internal sealed class CompletionChoice
{
    public required int Index { get; init; }
    public required string Text { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public CompletionLogprobs? Logprobs { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? FinishReason { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public object? StopReason { get; init; }
}

/// <summary>The legacy logprobs shape: parallel arrays, top alternatives as token → logprob maps.</summary>
internal sealed class CompletionLogprobs
{
    public List<int> TextOffset { get; } = [];
    public List<float?> TokenLogprobs { get; } = [];
    public List<string> Tokens { get; } = [];
    public List<Dictionary<string, float>?> TopLogprobs { get; } = [];
}
