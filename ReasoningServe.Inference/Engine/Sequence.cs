using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Inference.Engine;

internal enum SequenceStatus
{
    Waiting,
    Running,
    /// <summary>Lost its KV blocks to a newer sequence; waits at the front of the queue to recompute prompt + output.</summary>
    Preempted,
    Finished,
}

/// <summary>
/// One choice of a request: its tokens, where its KV lives, and the per-choice state of sampling and stop checking.
/// A request with n &gt; 1 owns n of these sharing one prompt array.
/// </summary>
internal sealed class Sequence
{
    private static long s_nextId;

    public Sequence(string requestId, int index, int[] promptTokenIds, SamplingParams sampling, Random? rng,
        IncrementalDetokenizer? detokenizer)
    {
        Id = Interlocked.Increment(ref s_nextId);
        RequestId = requestId;
        Index = index;
        PromptTokenIds = promptTokenIds;
        Sampling = sampling;
        Rng = rng;
        Detokenizer = detokenizer;
        InThinking = sampling.PromptOpensThinking;
    }

    /// <summary>Engine-wide arrival order; the scheduler preempts the largest (newest) first.</summary>
    public long Id { get; }
    public string RequestId { get; }
    public int Index { get; }
    public int[] PromptTokenIds { get; }
    public List<int> OutputTokenIds { get; } = [];
    public SamplingParams Sampling { get; }
    public SequenceStatus Status { get; set; } = SequenceStatus.Waiting;

    /// <summary>Tokens whose K/V are in the cache (computed or reused from the prefix cache).</summary>
    public int NumComputedTokens { get; set; }

    /// <summary>Physical KV blocks holding this sequence's tokens, in order.</summary>
    public List<int> BlockTable { get; } = [];

    /// <summary>Chained hashes of this sequence's full blocks, as far as they have been computed; survives preemption
    /// because it depends only on the tokens.</summary>
    public List<UInt128> BlockHashes { get; } = [];

    /// <summary>Leading blocks of <see cref="BlockTable"/> already offered to the prefix cache.</summary>
    public int NumRegisteredBlocks { get; set; }

    /// <summary>Prompt tokens served from the prefix cache when the sequence was first scheduled.</summary>
    public int NumCachedPromptTokens { get; set; }
    public bool WasScheduled { get; set; }

    /// <summary>Per-choice RNG for seeded requests; null uses the sampler's shared one.</summary>
    public Random? Rng { get; }
    public IncrementalDetokenizer? Detokenizer { get; }

    /// <summary>Text decoded but not yet released because it may still start a stop string.</summary>
    public string HeldText { get; set; } = "";

    public bool InThinking { get; private set; }
    public int ThinkingTokens { get; private set; }

    public string? FinishReason { get; set; }
    public object? StopReason { get; set; }

    public int NumPromptTokens => PromptTokenIds.Length;
    public int NumTokens => PromptTokenIds.Length + OutputTokenIds.Count;
    public bool IsFinished => Status == SequenceStatus.Finished;
    public int LastToken => OutputTokenIds.Count > 0 ? OutputTokenIds[^1] : PromptTokenIds[^1];

    public int TokenAt(int position) =>
        position < PromptTokenIds.Length ? PromptTokenIds[position] : OutputTokenIds[position - PromptTokenIds.Length];

    /// <summary>True when the reasoning section has used up its thinking_token_budget and must be closed now.</summary>
    public bool MustEndThinking =>
        InThinking && Sampling.ThinkingTokenBudget is int budget && Sampling.ThinkEndTokenId is not null && ThinkingTokens >= budget;

    public void AppendToken(int tokenId)
    {
        OutputTokenIds.Add(tokenId);
        if (InThinking)
        {
            if (tokenId == Sampling.ThinkEndTokenId)
            {
                InThinking = false;
            }
            else
            {
                ThinkingTokens++;
            }
        }
        else if (tokenId == Sampling.ThinkStartTokenId)
        {
            InThinking = true;
        }
    }
}
