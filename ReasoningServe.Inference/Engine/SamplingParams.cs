namespace ReasoningServe.Inference.Engine;

/// <summary>Per-request sampling settings, with vLLM's names and defaults. Validation happens at the API boundary.</summary>
internal sealed record SamplingParams
{
    public int N { get; init; } = 1;
    /// <summary>0 means greedy.</summary>
    public float Temperature { get; init; } = 1.0f;
    public float TopP { get; init; } = 1.0f;
    /// <summary>0 or -1 disables top-k.</summary>
    public int TopK { get; init; }
    public float MinP { get; init; }
    public long? Seed { get; init; }
    public float PresencePenalty { get; init; }
    public float FrequencyPenalty { get; init; }
    public float RepetitionPenalty { get; init; } = 1.0f;
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    public bool IncludeStopStrInOutput { get; init; }
    public bool IgnoreEos { get; init; }
    /// <summary>null: up to max_model_len.</summary>
    public int? MaxTokens { get; init; } = 16;
    public int MinTokens { get; init; }
    /// <summary>Number of top logprobs to return per sampled token; null returns none (0 returns only the sampled one).</summary>
    public int? Logprobs { get; init; }
    public bool SkipSpecialTokens { get; init; } = true;
    public bool SpacesBetweenSpecialTokens { get; init; } = true;
    /// <summary>vLLM's thinking_token_budget: after this many tokens inside the reasoning section, force <see cref="ThinkEndTokenId"/>.</summary>
    public int? ThinkingTokenBudget { get; init; }
    public int? ThinkStartTokenId { get; init; }
    public int? ThinkEndTokenId { get; init; }
    /// <summary>True when the prompt already opened the reasoning section (template ended with &lt;think&gt;).</summary>
    public bool PromptOpensThinking { get; init; }
}
