namespace ReasoningServe.Inference.Engine;

/// <summary>What the serving layer hands the engine: token ids in, sampling settings, an id for logs and aborts.</summary>
internal sealed record EngineRequest(string RequestId, int[] PromptTokenIds, SamplingParams Params);

/// <summary>
/// What the engine streams back after a step in which the request made progress. Deltas only: each
/// <see cref="CompletionDelta"/> holds the tokens and text produced since the previous output for that choice.
/// </summary>
internal sealed record RequestOutput(
    string RequestId,
    int PromptTokenCount,
    int CachedTokenCount,
    IReadOnlyList<CompletionDelta> Deltas,
    bool Finished);

/// <param name="Index">The choice index (0..n-1).</param>
/// <param name="TokenIds">Tokens produced since the last output of this choice.</param>
/// <param name="Text">Text produced since the last output; never half a UTF-8 character; stop strings already cut.</param>
/// <param name="Logprobs">One entry per token in <paramref name="TokenIds"/> when logprobs were requested.</param>
/// <param name="FinishReason">"stop", "length" or "abort" on the choice's last delta, else null.</param>
/// <param name="StopReason">The matched stop string or stop token id, when the finish was caused by one.</param>
internal sealed record CompletionDelta(
    int Index,
    int[] TokenIds,
    string Text,
    IReadOnlyList<TokenLogprob>? Logprobs,
    string? FinishReason,
    object? StopReason);

/// <summary>The sampled token's logprob and rank (1 = most likely), plus the top-k alternatives, most likely first.</summary>
internal sealed record TokenLogprob(int TokenId, float Logprob, int Rank, IReadOnlyList<TopLogprob> Top);

internal readonly record struct TopLogprob(int TokenId, float Logprob);

/// <summary>Point-in-time counters for /metrics and tests.</summary>
internal readonly record struct EngineStats(
    int NumRunning,
    int NumWaiting,
    int NumFreeBlocks,
    int NumTotalBlocks,
    long PrefixCacheQueries,
    long PrefixCacheHits,
    long PromptTokens,
    long GenerationTokens,
    long NumPreemptions)
{
    public double KvCacheUsage => NumTotalBlocks == 0 ? 0 : 1.0 - (double)NumFreeBlocks / NumTotalBlocks;
}

/// <summary>The engine as the serving layer sees it: submit, stream outputs, abort by cancelling.</summary>
internal interface IEngineClient
{
    /// <summary>Streams the request's outputs until it finishes. Cancelling aborts the request and frees its KV blocks at once.</summary>
    IAsyncEnumerable<RequestOutput> GenerateAsync(EngineRequest request, CancellationToken cancellationToken);

    EngineStats Stats { get; }

    /// <summary>False once the engine loop has died; /health turns 503.</summary>
    bool IsHealthy { get; }

    int MaxModelLen { get; }
}
