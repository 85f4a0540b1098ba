namespace ReasoningServe.Inference.Engine;

/// <summary>
/// Continuous batching: each step spends a token budget (max_num_batched_tokens) on running sequences first (a decode
/// costs one token, an unfinished prefill continues with what the budget allows), then admits waiting sequences, whose
/// prompts are chunked across steps when they do not fit. When the KV cache cannot grow, the newest running sequence is
/// preempted: its blocks are freed and it returns to the front of the queue to recompute prompt + output so far.
/// </summary>
internal sealed class Scheduler(EngineOptions options, BlockManager blocks)
{
    private readonly LinkedList<Sequence> _waiting = new();
    private readonly List<Sequence> _running = [];
    private readonly List<int> _prefixHits = [];
    private readonly SchedulerOutput _output = new();

    public int NumRunning => _running.Count;
    public int NumWaiting => _waiting.Count;
    public long NumPreemptions { get; private set; }
    public bool HasUnfinished => _running.Count > 0 || _waiting.Count > 0;

    public void Add(Sequence seq)
    {
        seq.Status = SequenceStatus.Waiting;
        _waiting.AddLast(seq);
    }

    /// <summary>Chooses this step's sequences. The returned object is reused by the next call.</summary>
    public SchedulerOutput Schedule()
    {
        _output.Clear();
        int budget = options.MaxNumBatchedTokens;
        bool preempted = false;

        for (int i = 0; i < _running.Count && budget > 0; i++)
        {
            Sequence seq = _running[i];
            int n = Math.Min(seq.NumTokens - seq.NumComputedTokens, budget);
            while (!blocks.AppendSlots(seq, n))
            {
                Sequence victim = _running[^1];
                _running.RemoveAt(_running.Count - 1);
                Preempt(victim);
                preempted = true;
                if (victim == seq)
                {
                    break;
                }
            }
            if (seq.Status != SequenceStatus.Running)
            {
                break;
            }
            _output.Add(seq, n);
            budget -= n;
        }

        // Admitting new work right after a preemption would only take the blocks back from the sequence that lost them.
        while (!preempted && budget > 0 && _running.Count < options.MaxNumSeqs && _waiting.First is { } first)
        {
            Sequence seq = first.Value;
            blocks.FindCachedPrefix(seq, _prefixHits);
            int n = Math.Min(seq.NumTokens - _prefixHits.Count * blocks.BlockSize, budget);
            if (!blocks.AllocateWithPrefix(seq, _prefixHits, n))
            {
                break;
            }
            _waiting.RemoveFirst();
            seq.Status = SequenceStatus.Running;
            _running.Add(seq);
            _output.Add(seq, n);
            budget -= n;
        }
        return _output;
    }

    /// <summary>After the forward pass: the scheduled tokens are in the cache now, and full blocks become shareable.</summary>
    public void CompleteStep(SchedulerOutput output)
    {
        for (int i = 0; i < output.Count; i++)
        {
            ScheduledSequence s = output[i];
            s.Sequence.NumComputedTokens += s.NumTokens;
            blocks.CacheFullBlocks(s.Sequence);
        }
    }

    /// <summary>Removes a finished or aborted sequence and returns its blocks.</summary>
    public void Finish(Sequence seq)
    {
        if (seq.Status == SequenceStatus.Running)
        {
            _running.Remove(seq);
        }
        else if (seq.Status is SequenceStatus.Waiting or SequenceStatus.Preempted)
        {
            _waiting.Remove(seq);
        }
        blocks.Free(seq);
        seq.Status = SequenceStatus.Finished;
    }

    private void Preempt(Sequence seq)
    {
        blocks.Free(seq);
        seq.Status = SequenceStatus.Preempted;
        _waiting.AddFirst(seq);
        NumPreemptions++;
    }
}
