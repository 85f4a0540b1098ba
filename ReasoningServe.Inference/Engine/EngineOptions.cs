namespace ReasoningServe.Inference.Engine;

/// <summary>Engine limits, named after vLLM's engine arguments.</summary>
internal sealed record EngineOptions
{
    public int BlockSize { get; init; } = 16;
    public int MaxModelLen { get; init; } = 4096;
    public int MaxNumSeqs { get; init; } = 64;
    public int MaxNumBatchedTokens { get; init; } = 2048;
    /// <summary>KV blocks to allocate; when null, sized from <see cref="KvCacheBytes"/>.</summary>
    public int? NumKvBlocks { get; init; }
    /// <summary>Memory budget for the KV cache when <see cref="NumKvBlocks"/> is not given.</summary>
    public long KvCacheBytes { get; init; } = 1L << 30;
    public bool EnablePrefixCaching { get; init; } = true;
    /// <summary>Token ids that end generation (from generation_config.json / config.json), unless ignore_eos.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
}
