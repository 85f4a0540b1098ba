using System.Text.Json;

namespace ReasoningServe.Inference.Serving.Api;

/// <summary>POST /v1/completions. prompt: a string, a list of strings, a list of token ids or a list of such lists.</summary>
internal sealed class CompletionRequest : SamplingRequest
{
    public JsonElement? Prompt { get; set; }
    /// <summary>Top alternatives per token (legacy API: an integer, not a flag).</summary>
    public int? Logprobs { get; set; }
    public string? Suffix { get; set; }
}
