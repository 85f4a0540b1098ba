using ReasoningServe.Inference.Backends;

namespace ReasoningServe.Inference.Engine;

/// <summary>A sequence chosen for this step and how many of its tokens it computes.</summary>
/// <param name="Samples">True when this step computes the sequence's last known token, so its logits pick the next one;
/// false for a partial prefill chunk, whose logits are ignored.</param>
internal readonly record struct ScheduledSequence(Sequence Sequence, int NumTokens, bool Samples);

/// <summary>What the scheduler decided for one step, and its translation into the backend's flattened batch.</summary>
internal sealed class SchedulerOutput
{
    private readonly List<ScheduledSequence> _scheduled = [];

    public int Count => _scheduled.Count;
    public int NumTokens { get; private set; }
    public ScheduledSequence this[int index] => _scheduled[index];

    public void Clear()
    {
        _scheduled.Clear();
        NumTokens = 0;
    }

    public void Add(Sequence seq, int numTokens)
    {
        _scheduled.Add(new ScheduledSequence(seq, numTokens, seq.NumComputedTokens + numTokens == seq.NumTokens));
        NumTokens += numTokens;
    }

    /// <summary>Token ids, positions, KV slots and block tables of the scheduled tokens, sequence by sequence.</summary>
    public ForwardBatch ToForwardBatch(int blockSize)
    {
        int numSeqs = _scheduled.Count;
        var tokenIds = new int[NumTokens];
        var positions = new int[NumTokens];
        var slots = new int[NumTokens];
        var queryStart = new int[numSeqs + 1];
        var contextLens = new int[numSeqs];
        var blockTables = new int[numSeqs][];
        int t = 0;
        for (int i = 0; i < numSeqs; i++)
        {
            (Sequence seq, int n, _) = _scheduled[i];
            queryStart[i] = t;
            int start = seq.NumComputedTokens;
            for (int pos = start; pos < start + n; pos++, t++)
            {
                tokenIds[t] = seq.TokenAt(pos);
                positions[t] = pos;
                slots[t] = seq.BlockTable[pos / blockSize] * blockSize + pos % blockSize;
            }
            contextLens[i] = start + n;
            blockTables[i] = [.. seq.BlockTable];
        }
        queryStart[numSeqs] = t;
        return new ForwardBatch
        {
            NumSeqs = numSeqs,
            TokenIds = tokenIds,
            Positions = positions,
            SlotMapping = slots,
            QueryStart = queryStart,
            ContextLens = contextLens,
            BlockTables = blockTables,
        };
    }
}
