using ReasoningServe.Inference.Backends;
using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using ReasoningServe.Inference.Engine;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Inference.Serving;

/// <summary>Builds the engine for a loaded model on the selected device, with vLLM's engine limits.</summary>
internal static class EngineHost
{
    /// <summary>vLLM's CPU default for VLLM_CPU_KVCACHE_SPACE (GiB).</summary>
    private const double DefaultCpuKvCacheGiB = 4;

    /// <param name="loading">Started when loading began: the report's load time ends once the backend holds the weights.</param>
    public static (IEngineClient Engine, StartupReport Report) Start(ServerOptions options, LoadedModel model, Tokenizer tokenizer, int maxModelLen,
        string modelName, System.Diagnostics.Stopwatch loading)
    {
        IModelBackend backend = CreateBackend(options.Device, model, options.EnforceEager);
        double loadSeconds = loading.Elapsed.TotalSeconds;
        var engineOptions = new EngineOptions
        {
            MaxModelLen = maxModelLen,
            MaxNumSeqs = options.MaxNumSeqs ?? new EngineOptions().MaxNumSeqs,
            MaxNumBatchedTokens = options.MaxNumBatchedTokens ?? new EngineOptions().MaxNumBatchedTokens,
            KvCacheBytes = backend is CudaBackend cuda
                ? GpuKvBudget(cuda, options.GpuMemoryUtilization)
                : (long)((options.KvCacheSpace ?? DefaultCpuKvCacheGiB) * (1L << 30)),
            EosTokenIds = EosTokenIds(model, tokenizer),
        };
        // Never allocate more blocks than max_num_seqs full-length sequences can use.
        int blockBytes = (int)Math.Min(int.MaxValue, backend.KvBlockBytes(engineOptions.BlockSize));
        long usable = (long)engineOptions.MaxNumSeqs * ((maxModelLen + engineOptions.BlockSize - 1) / engineOptions.BlockSize);
        long affordable = engineOptions.KvCacheBytes / blockBytes;
        engineOptions = engineOptions with { NumKvBlocks = (int)Math.Min(int.MaxValue, Math.Min(usable, affordable)) };
        (string device, long? weightBytes) = backend is CudaBackend gpu ? ($"cuda ({gpu.Device.Name})", gpu.WeightBytes) : ("cpu", (long?)null);
        var report = new StartupReport(modelName, model.Config.Architecture, model.Config.NumLayers, device, weightBytes, loadSeconds,
            engineOptions.NumKvBlocks.Value, engineOptions.BlockSize, blockBytes, maxModelLen, engineOptions.MaxNumSeqs);
        try
        {
            return (new AsyncEngine(new LLMEngine(backend, tokenizer, engineOptions), owned: backend), report);
        }
        catch (ArgumentException e)
        {
            backend.Dispose();
            throw new ServerOptionsException($"The engine cannot start with these limits: {e.Message}");
        }
    }

    private static IModelBackend CreateBackend(string device, LoadedModel model, bool enforceEager)
    {
        if (device == "auto" && !CudaRuntime.IsAvailable(out string reason))
        {
            Console.Error.WriteLine($"warning: --device auto: no usable GPU ({reason}); serving on the CPU.");
            device = "cpu";
        }
        if (device == "cpu")
        {
            return new CpuBackend(model.Config, model.Weights, ownsWeights: true);
        }
        try
        {
            CudaBackend cuda = CudaBackend.Create(model);
            cuda.UseGraphs &= !enforceEager;
            model.Weights.Dispose(); // now on the GPU; the memory-mapped files are no longer needed
            return cuda;
        }
        catch (CudaException e)
        {
            throw new ServerOptionsException($"--device cuda: {e.Message}");
        }
    }

    /// <summary>
    /// vLLM's rule: the engine may use gpu_memory_utilization of the GPU's memory; what the weights (and everything else
    /// already allocated) leave of that, less room for activations, holds the KV cache.
    /// </summary>
    private static long GpuKvBudget(CudaBackend cuda, double utilization)
    {
        const long ActivationReserve = 1L << 30;
        var (free, total) = cuda.Device.MemoryInfo();
        long used = total - free;
        long budget = (long)(total * utilization) - used - ActivationReserve;
        if (budget <= 0)
        {
            throw new ServerOptionsException(
                $"--device cuda: no room for a KV cache: the GPU has {total >> 20} MiB, {used >> 20} MiB are in use "
                + $"(model weights {cuda.WeightBytes >> 20} MiB), --gpu-memory-utilization {utilization} allows "
                + $"{(long)(total * utilization) >> 20} MiB, and {ActivationReserve >> 20} MiB are kept for activations.");
        }
        return budget;
    }

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
