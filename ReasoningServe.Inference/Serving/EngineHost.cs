using ReasoningServe.Inference.Backends;
using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Engine;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Inference.Serving;

/// <summary>Builds the engine for a loaded model on the selected device, with vLLM's engine limits.</summary>
internal static class EngineHost
{
    /// <summary>vLLM's CPU default for VLLM_CPU_KVCACHE_SPACE (GiB).</summary>
    private const double DefaultCpuKvCacheGiB = 4;

    public static IEngineClient Start(ServerOptions options, LoadedModel model, Tokenizer tokenizer, int maxModelLen)
    {
        IModelBackend backend = CreateBackend(options.Device, model);
        var engineOptions = new EngineOptions
        {
            MaxModelLen = maxModelLen,
            MaxNumSeqs = options.MaxNumSeqs ?? new EngineOptions().MaxNumSeqs,
            MaxNumBatchedTokens = options.MaxNumBatchedTokens ?? new EngineOptions().MaxNumBatchedTokens,
            KvCacheBytes = (long)((options.KvCacheSpace ?? DefaultCpuKvCacheGiB) * (1L << 30)),
            EosTokenIds = EosTokenIds(model, tokenizer),
        };
        // Never allocate more blocks than max_num_seqs full-length sequences can use.
        int blockBytes = (int)Math.Min(int.MaxValue, backend.KvBlockBytes(engineOptions.BlockSize));
        long usable = (long)engineOptions.MaxNumSeqs * ((maxModelLen + engineOptions.BlockSize - 1) / engineOptions.BlockSize);
        long affordable = engineOptions.KvCacheBytes / blockBytes;
        engineOptions = engineOptions with { NumKvBlocks = (int)Math.Min(int.MaxValue, Math.Min(usable, affordable)) };
        try
        {
            return new AsyncEngine(new LLMEngine(backend, tokenizer, engineOptions), owned: backend);
        }
        catch (ArgumentException e)
        {
            backend.Dispose();
            throw new ServerOptionsException($"The engine cannot start with these limits: {e.Message}");
        }
    }

    private static IModelBackend CreateBackend(string device, LoadedModel model) => device switch
    {
        "cpu" or "auto" => new CpuBackend(model.Config, model.Weights, ownsWeights: true),
        _ => throw new ServerOptionsException($"--device {device} is not available in this build."),
    };

    /// <summary>generation_config.json's eos ids (what HF generate stops on), else config.json's, else the tokenizer's.</summary>
    private static IReadOnlyList<int> EosTokenIds(LoadedModel model, Tokenizer tokenizer)
    {
        if (model.Generation.EosTokenIds.Count > 0)
        {
            return model.Generation.EosTokenIds;
        }
        if (model.Config.EosTokenIds.Count > 0)
        {
            return model.Config.EosTokenIds;
        }
        return tokenizer.EosTokenId is int eos ? [eos] : [];
    }
}
