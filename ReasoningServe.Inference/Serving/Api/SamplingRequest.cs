using System.Text.Json;

namespace ReasoningServe.Inference.Serving.Api;

/// <summary>The fields chat and legacy completions share: model, sampling, stopping, streaming.</summary>
internal abstract class SamplingRequest
{
    public string? Model { get; set; }
    public int? MaxTokens { get; set; }
    public double? Temperature { get; set; }
    public double? TopP { get; set; }
    public int? N { get; set; }
    /// <summary>A string or a list of strings.</summary>
    public JsonElement? Stop { get; set; }
    public long? Seed { get; set; }
    public bool? Stream { get; set; }
    public StreamOptions? StreamOptions { get; set; }
    public double? PresencePenalty { get; set; }
    public double? FrequencyPenalty { get; set; }
    public Dictionary<string, double>? LogitBias { get; set; }
    public string? User { get; set; }
    public int? TopK { get; set; }
    public double? MinP { get; set; }
    public double? RepetitionPenalty { get; set; }
    public int? MinTokens { get; set; }
    public List<int>? StopTokenIds { get; set; }
    public bool? IncludeStopStrInOutput { get; set; }
    public bool? IgnoreEos { get; set; }
    public bool? SkipSpecialTokens { get; set; }
    public bool? SpacesBetweenSpecialTokens { get; set; }
    public bool? ReturnTokensAsTokenIds { get; set; }
    public bool? Echo { get; set; }
    public bool? AddSpecialTokens { get; set; }
}
