using ReasoningServe.Inference.Engine;

namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// The sampler's logit bias, min_tokens masking and penalties applied on the GPU (logit_adjust.cu) from
/// <see cref="LogitAdjustments"/>, packed as 5 ints per entry (token, masked, add, repetition, subtract as float bits).
/// </summary>
internal static unsafe class LogitAdjust
{
    public const int EntryInts = 5;

    /// <summary>Writes the offsets (rows + 1 ints) then the entries into <paramref name="destination"/>; returns the ints used.</summary>
    public static int Pack(LogitAdjustments adjustments, Span<int> destination)
    {
        ReadOnlySpan<int> offsets = adjustments.Offsets;
        offsets.CopyTo(destination);
        Span<int> entries = destination[offsets.Length..];
        ReadOnlySpan<LogitAdjustment> all = adjustments.Entries;
        for (int e = 0; e < all.Length; e++)
        {
            LogitAdjustment a = all[e];
            Span<int> d = entries.Slice(e * EntryInts, EntryInts);
            d[0] = a.Token;
            d[1] = a.Masked ? 1 : 0;
            d[2] = BitConverter.SingleToInt32Bits(a.Add);
            d[3] = BitConverter.SingleToInt32Bits(a.Repetition);
            d[4] = BitConverter.SingleToInt32Bits(a.Subtract);
        }
        return offsets.Length + all.Length * EntryInts;
    }

    public static int IntsFor(LogitAdjustments adjustments) => adjustments.Rows + 1 + adjustments.Count * EntryInts;

    /// <param name="packed">Device ints from <see cref="Pack"/>: offsets first, then the entries.</param>
    public static void Launch(CudaKernels kernels, nint stream, ulong raw, ulong adjusted, int vocab, ulong packed, int rows)
    {
        ulong offsets = packed, entries = packed + (ulong)(4 * (rows + 1));
        void** args = stackalloc void*[] { &raw, &adjusted, &vocab, &offsets, &entries };
        kernels.LogitAdjust.Launch(stream, (uint)rows, 1, 256, args);
    }
}
