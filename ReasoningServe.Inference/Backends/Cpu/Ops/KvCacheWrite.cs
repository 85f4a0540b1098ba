namespace ReasoningServe.Inference.Backends.Cpu.Ops;

/// <summary>
/// cache[slot[t], :, :] = k[t, :, :]  (and the same for v). A layer's cache is [numBlocks * blockSize slots, kvHeads,
/// headDim], so slot = block * blockSize + offset addresses one token's heads contiguously.
/// </summary>
internal static unsafe class KvCacheWrite
{
    public static void Forward(ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<int> slots, float* kCache, float* vCache, int kvSize, long totalSlots)
    {
        for (int t = 0; t < slots.Length; t++)
        {
            int slot = slots[t];
            if ((uint)slot >= totalSlots)
            {
                throw new ArgumentOutOfRangeException(nameof(slots), $"slot {slot} is outside the KV cache of {totalSlots} slots.");
            }
            k.Slice(t * kvSize, kvSize).CopyTo(new Span<float>(kCache + (long)slot * kvSize, kvSize));
            v.Slice(t * kvSize, kvSize).CopyTo(new Span<float>(vCache + (long)slot * kvSize, kvSize));
        }
    }
}
