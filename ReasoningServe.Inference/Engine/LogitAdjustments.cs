namespace ReasoningServe.Inference.Engine;

/// <summary>
/// The sampler's logit processing for one step of a batch as sparse per-token entries, for a backend to apply where the
/// logits are (<see cref="Backends.IModelBackend.TryForwardSampled"/>). For each listed token of a row, in the
/// sampler's order: l = raw + Add (logit_bias); -inf if Masked (min_tokens); if Repetition != 1,
/// l = l &gt; 0 ? l / Repetition : l * Repetition; then l -= Subtract (frequency and presence). Unlisted tokens keep
/// their raw logits. <see cref="Apply"/> is the reference every backend must match.
/// </summary>
internal sealed class LogitAdjustments
{
    private int[] _offsets = [0];
    private LogitAdjustment[] _entries = [];

    public int Rows { get; private set; }
    public int Count { get; private set; }

    /// <summary>Rows + 1 offsets into <see cref="Entries"/>: row r owns [Offsets[r], Offsets[r + 1]).</summary>
    public ReadOnlySpan<int> Offsets => _offsets.AsSpan(0, Rows + 1);

    public ReadOnlySpan<LogitAdjustment> Entries => _entries.AsSpan(0, Count);

    public void Clear()
    {
        Rows = 0;
        Count = 0;
    }

    /// <summary>Starts the next row; entries added until the next call belong to it.</summary>
    public void BeginRow()
    {
        if (_offsets.Length < Rows + 2)
        {
            Array.Resize(ref _offsets, Math.Max(16, 2 * (Rows + 2)));
        }
        Rows++;
        _offsets[Rows - 1] = Count;
        _offsets[Rows] = Count;
    }

    /// <summary>Adds an entry to the current row (plain: no change) and returns its index.</summary>
    public int Add(int token)
    {
        if (Count == _entries.Length)
        {
            Array.Resize(ref _entries, Math.Max(64, 2 * Count));
        }
        _entries[Count] = new LogitAdjustment(token, Masked: false, Add: 0f, Repetition: 1f, Subtract: 0f);
        _offsets[Rows] = ++Count;
        return Count - 1;
    }

    public ref LogitAdjustment this[int index] => ref _entries[index];

    /// <summary>
    /// Row <paramref name="row"/>'s processed logits from its raw ones (the reference for backends). The two may be the
    /// same span: a row lists each token once, so every entry reads its raw value before anything writes it.
    /// </summary>
    public void Apply(int row, ReadOnlySpan<float> raw, Span<float> processed)
    {
        raw.CopyTo(processed);
        for (int e = _offsets[row]; e < _offsets[row + 1]; e++)
        {
            LogitAdjustment a = _entries[e];
            processed[a.Token] = Adjust(a, raw[a.Token]);
        }
    }

    public static float Adjust(in LogitAdjustment a, float raw)
    {
        if (a.Masked)
        {
            return float.NegativeInfinity;
        }
        float l = raw + a.Add;
        if (a.Repetition != 1f)
        {
            l = l > 0 ? l / a.Repetition : l * a.Repetition;
        }
        return l - a.Subtract;
    }
}

/// <summary>One token's change in <see cref="LogitAdjustments"/>.</summary>
internal record struct LogitAdjustment(int Token, bool Masked, float Add, float Repetition, float Subtract);
