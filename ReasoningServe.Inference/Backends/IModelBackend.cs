using ReasoningServe.Inference.Model;

namespace ReasoningServe.Inference.Backends;

/// <summary>
/// Runs the decoder over a batch of sequences with a paged KV cache. The scheduler decides what runs; a backend only
/// turns a <see cref="ForwardBatch"/> into logits. CPU and CUDA implement this; nothing above it knows which one runs.
/// </summary>
internal interface IModelBackend : IDisposable
{
    ModelConfig Config { get; }

    /// <summary>Allocates the KV cache: <paramref name="numBlocks"/> blocks of <paramref name="blockSize"/> token slots per layer.</summary>
    void AllocateKvCache(int numBlocks, int blockSize);

    /// <summary>Bytes one KV block takes across all layers (K and V), for sizing the cache from a memory budget.</summary>
    long KvBlockBytes(int blockSize);

    /// <summary>
    /// Writes K/V of every token in the batch into its slot, then fills <paramref name="logits"/> [NumSeqs × VocabSize] with
    /// the fp32 logits of the last token of each sequence.
    /// </summary>
    void Forward(ForwardBatch batch, Span<float> logits);

    /// <summary>
    /// Forward plus greedy sampling where the logits live: <paramref name="tokens"/>[i] = argmax of sequence i's last-token
    /// logits (the lowest id on a tie), so only ids cross to the host. False when the backend has no such path; the caller
    /// then uses <see cref="Forward"/>.
    /// </summary>
    bool TryForwardGreedy(ForwardBatch batch, Span<int> tokens) => false;

    /// <summary>
    /// When the last forward pass had been handed to the device (a <see cref="System.Diagnostics.Stopwatch"/> timestamp),
    /// so that the engine loop's timing can tell the host's part of a step from the wait for the device; null where the
    /// backend does not say.
    /// </summary>
    long? LaunchedAt => null;

    /// <summary>Whether <see cref="TryForwardSampled"/> can run; the engine asks before it draws seeds for it.</summary>
    bool SupportsSampling => false;

    /// <summary>
    /// Forward plus the engine's whole sampler where the logits live: <paramref name="adjustments"/> (logit bias,
    /// min_tokens masking, penalties), then temperature, min-p, top-k, top-p and a seeded draw, or a forced token; logprobs
    /// of the raw logits. One row of <paramref name="parameters"/> and of <paramref name="adjustments"/> per sequence.
    /// False when the backend has no such path.
    /// </summary>
    bool TryForwardSampled(ForwardBatch batch, ReadOnlySpan<BackendSamplingParams> parameters, Engine.LogitAdjustments adjustments,
        BackendSamples samples) => false;
}

/// <summary>
/// What a backend needs to draw one sequence's token after its logit adjustments. <see cref="Logprobs"/> is -1 for none,
/// else how many top logprobs (at most <see cref="BackendSamples.MaxTopLogprobs"/>); <see cref="Seed"/> is this step's
/// draw for the row; <see cref="Forced"/> (not -1) is taken instead of a draw, its logprob still reported.
/// </summary>
internal readonly record struct BackendSamplingParams(float Temperature, float TopP, int TopK, float MinP, ulong Seed, int Logprobs, int Forced = -1);

/// <summary>A backend's draws for a batch: per sequence the token, its raw logprob and rank, and up to 20 top logprobs.</summary>
internal sealed class BackendSamples
{
    public const int MaxTopLogprobs = 20;

    public int[] Tokens { get; private set; } = [];
    public float[] Logprobs { get; private set; } = [];
    public int[] Ranks { get; private set; } = [];
    /// <summary>[sequence * MaxTopLogprobs + k]: the k-th most likely token and its logprob.</summary>
    public int[] TopIds { get; private set; } = [];
    public float[] TopLogprobs { get; private set; } = [];

    public void EnsureCapacity(int seqs)
    {
        if (Tokens.Length >= seqs)
        {
            return;
        }
        Tokens = new int[seqs];
        Logprobs = new float[seqs];
        Ranks = new int[seqs];
        TopIds = new int[seqs * MaxTopLogprobs];
        TopLogprobs = new float[seqs * MaxTopLogprobs];
    }
}

/// <summary>
/// One step's input, flattened like vLLM's attention metadata. Sequence i owns tokens
/// [QueryStart[i], QueryStart[i+1]) of <see cref="TokenIds"/>; its context after this step is ContextLens[i] tokens, the
/// first ContextLens[i] - queryLen of which are already in the cache (computed earlier or prefix-cache hits).
/// </summary>
internal sealed class ForwardBatch
{
    public required int NumSeqs { get; init; }
    public required int[] TokenIds { get; init; }
    public required int[] Positions { get; init; }
    /// <summary>Per token: blockId * blockSize + offset, where its K/V are written.</summary>
    public required int[] SlotMapping { get; init; }
    /// <summary>NumSeqs + 1 cumulative offsets into TokenIds.</summary>
    public required int[] QueryStart { get; init; }
    public required int[] ContextLens { get; init; }
    /// <summary>Per sequence: the physical block ids holding its context, in order.</summary>
    public required int[][] BlockTables { get; init; }
    public int NumTokens => TokenIds.Length;
}
