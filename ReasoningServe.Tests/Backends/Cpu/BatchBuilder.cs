using ReasoningServe.Inference.Backends;

namespace ReasoningServe.Tests.Backends.Cpu;

/// <summary>
/// Builds <see cref="ForwardBatch"/>es the way a scheduler would: each part appends new tokens to a sequence that
/// already has <c>Cached</c> tokens in the cache; block tables come from a per-sequence function (contiguous by default).
/// </summary>
internal sealed class BatchBuilder(int blockSize, Func<int, int[]> blockTableOf)
{
    public readonly record struct Part(int Seq, int[] NewTokens, int Cached);

    public static BatchBuilder Contiguous(int blockSize, int blocksPerSeq) =>
        new(blockSize, seq => Enumerable.Range(seq * blocksPerSeq, blocksPerSeq).ToArray());

    public ForwardBatch Build(params Part[] parts)
    {
        var tokens = new List<int>();
        var positions = new List<int>();
        var slots = new List<int>();
        var queryStart = new List<int> { 0 };
        var contextLens = new List<int>();
        var tables = new List<int[]>();
        foreach (Part part in parts)
        {
            int[] table = blockTableOf(part.Seq);
            for (int i = 0; i < part.NewTokens.Length; i++)
            {
                int position = part.Cached + i;
                tokens.Add(part.NewTokens[i]);
                positions.Add(position);
                slots.Add(table[position / blockSize] * blockSize + position % blockSize);
            }
            queryStart.Add(tokens.Count);
            contextLens.Add(part.Cached + part.NewTokens.Length);
            tables.Add(table);
        }
        return new ForwardBatch
        {
            NumSeqs = parts.Length,
            TokenIds = [.. tokens],
            Positions = [.. positions],
            SlotMapping = [.. slots],
            QueryStart = [.. queryStart],
            ContextLens = [.. contextLens],
            BlockTables = [.. tables],
        };
    }
}
