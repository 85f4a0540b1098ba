namespace ReasoningServe.Inference.Engine;

/// <summary>
/// Turns a sampled token into the choice's delta: appends it, checks the stop conditions (max_model_len / max_tokens,
/// EOS, stop_token_ids, stop strings) and detokenizes. Stop strings may span tokens, so text that could still be the
/// start of one is held back until it no longer can, or the choice ends: the longest suffix that is a proper prefix of a
/// stop string, hence at most (longest stop length - 1) chars.
/// </summary>
internal sealed class OutputProcessor(EngineOptions options)
{
    public const string Stop = "stop";
    public const string Length = "length";
    public const string Abort = "abort";

    public CompletionDelta Process(Sequence seq, int token, TokenLogprob? logprob)
    {
        SamplingParams p = seq.Sampling;
        seq.AppendToken(token);
        int numOutput = seq.OutputTokenIds.Count;

        bool stoppedByToken = false;
        if (seq.NumTokens >= options.MaxModelLen || numOutput >= (p.MaxTokens ?? int.MaxValue))
        {
            seq.FinishReason = Length;
        }
        if (numOutput >= p.MinTokens)
        {
            if (!p.IgnoreEos && Contains(options.EosTokenIds, token))
            {
                (seq.FinishReason, seq.StopReason, stoppedByToken) = (Stop, null, true);
            }
            else if (Contains(p.StopTokenIds, token))
            {
                (seq.FinishReason, seq.StopReason, stoppedByToken) = (Stop, token, true);
            }
        }

        string text = "";
        if (seq.Detokenizer is { } detokenizer && (!stoppedByToken || p.IncludeStopStrInOutput))
        {
            string pending = seq.HeldText + detokenizer.Add(token);
            if (!stoppedByToken && numOutput >= p.MinTokens && FindStop(pending, p.Stop) is (int at, string stop))
            {
                pending = pending[..(p.IncludeStopStrInOutput ? at + stop.Length : at)];
                (seq.FinishReason, seq.StopReason) = (Stop, stop);
            }
            int release = seq.FinishReason is null ? pending.Length - PossibleStopStart(pending, p.Stop) : pending.Length;
            text = pending[..release];
            seq.HeldText = pending[release..];
        }
        else if (seq.FinishReason is not null)
        {
            text = seq.HeldText;
            seq.HeldText = "";
        }

        return new CompletionDelta(seq.Index, [token], text, logprob is null ? null : [logprob], seq.FinishReason,
            seq.StopReason);
    }

    /// <summary>The earliest occurrence of any stop string; ties go to the longer string.</summary>
    private static (int At, string Stop)? FindStop(string text, IReadOnlyList<string> stops)
    {
        (int At, string Stop)? best = null;
        for (int i = 0; i < stops.Count; i++)
        {
            string stop = stops[i];
            if (stop.Length == 0)
            {
                continue;
            }
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (best is not { } b || at < b.At || (at == b.At && stop.Length > b.Stop.Length)))
            {
                best = (at, stop);
            }
        }
        return best;
    }

    /// <summary>Length of the longest suffix of <paramref name="text"/> that is a proper prefix of a stop string: the
    /// text that must wait for the next token to tell whether a stop string starts there.</summary>
    private static int PossibleStopStart(string text, IReadOnlyList<string> stops)
    {
        int held = 0;
        for (int i = 0; i < stops.Count; i++)
        {
            string stop = stops[i];
            for (int k = Math.Min(stop.Length - 1, text.Length); k > held; k--)
            {
                if (text.AsSpan(text.Length - k).SequenceEqual(stop.AsSpan(0, k)))
                {
                    held = k;
                    break;
                }
            }
        }
        return held;
    }

    private static bool Contains(IReadOnlyList<int> ids, int token)
    {
        for (int i = 0; i < ids.Count; i++)
        {
            if (ids[i] == token)
            {
                return true;
            }
        }
        return false;
    }
}
