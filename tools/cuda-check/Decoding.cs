using ReasoningServe.Inference.Backends;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// Runs sequences through any backend the way the engine would (prefill, optionally in chunks, then one token per
/// step, all sequences batched) and records each step's logits. Tokens are either the backend's own greedy choices
/// or forced (teacher forcing, so two backends see identical inputs however their choices differ).
/// </summary>
/// <param name="sharedPrefix">Per sequence, optionally another sequence whose first blocks it uses as its own (a prefix-cache
/// hit): (source, blocks). Run's <c>cached</c> then says how many of its prompt tokens are already there.</param>
internal sealed class Decoding(IModelBackend backend, int blockSize, int blocksPerSeq,
    IReadOnlyDictionary<int, (int Source, int Blocks)>? sharedPrefix = null)
{
    public sealed record Result(int[][] Tokens, float[][][] Logits);

    /// <param name="forced">Per sequence the tokens to feed after the prompt, or null for greedy.</param>
    /// <param name="chunk">Prefill chunk length (0 = whole prompt in one step).</param>
    /// <param name="cached">Per sequence, prompt tokens whose K/V are already in its (shared) blocks: prefill starts after them.</param>
    public Result Run(int[][] prompts, int steps, int[][]? forced = null, int chunk = 0, int[]? cached = null)
    {
        int n = prompts.Length, vocab = backend.Config.VocabSize;
        var tokens = new List<int>[n];
        var logits = new List<float[]>[n];
        for (int i = 0; i < n; i++)
        {
            tokens[i] = [];
            logits[i] = [];
        }
        var buffer = new float[n * vocab];
        // Prefill: every sequence advances by one chunk per step until all prompts are in.
        var done = cached is null ? new int[n] : (int[])cached.Clone();
        while (true)
        {
            var parts = new List<(int Seq, int[] New, int Cached)>();
            for (int i = 0; i < n; i++)
            {
                if (done[i] < prompts[i].Length)
                {
                    int take = chunk == 0 ? prompts[i].Length - done[i] : Math.Min(chunk, prompts[i].Length - done[i]);
                    parts.Add((i, prompts[i][done[i]..(done[i] + take)], done[i]));
                }
            }
            if (parts.Count == 0)
            {
                break;
            }
            backend.Forward(Build(parts), buffer);
            for (int p = 0; p < parts.Count; p++)
            {
                int i = parts[p].Seq;
                done[i] += parts[p].New.Length;
                if (done[i] == prompts[i].Length)
                {
                    Record(i, buffer.AsSpan(p * vocab, vocab));
                }
            }
        }
        for (int step = 1; step < steps; step++)
        {
            var parts = new List<(int Seq, int[] New, int Cached)>();
            for (int i = 0; i < n; i++)
            {
                int next = forced is null ? tokens[i][^1] : forced[i][step - 1];
                parts.Add((i, [next], prompts[i].Length + step - 1));
            }
            backend.Forward(Build(parts), buffer);
            for (int i = 0; i < n; i++)
            {
                Record(i, buffer.AsSpan(i * vocab, vocab));
            }
        }
        return new Result(tokens.Select(t => t.ToArray()).ToArray(), logits.Select(l => l.ToArray()).ToArray());

        void Record(int i, ReadOnlySpan<float> row)
        {
            logits[i].Add(row.ToArray());
            tokens[i].Add(ArgMax(row));
        }
    }

    private ForwardBatch Build(List<(int Seq, int[] New, int Cached)> parts) => Build(parts, blocksPerSeq, blockSize, sharedPrefix);

    /// <summary>A batch over contiguous block tables: sequence s owns blocks [s·blocksPerSeq, (s+1)·blocksPerSeq).</summary>
    public static ForwardBatch Build(IReadOnlyList<(int Seq, int[] New, int Cached)> parts, int blocksPerSeq, int blockSize,
        IReadOnlyDictionary<int, (int Source, int Blocks)>? sharedPrefix = null)
    {
        var ids = new List<int>();
        var positions = new List<int>();
        var slots = new List<int>();
        var queryStart = new List<int> { 0 };
        var contexts = new List<int>();
        var tables = new List<int[]>();
        foreach ((int seq, int[] newTokens, int cached) in parts)
        {
            int[] table = Enumerable.Range(seq * blocksPerSeq, blocksPerSeq).ToArray();
            if (sharedPrefix is not null && sharedPrefix.TryGetValue(seq, out var shared))
            {
                for (int b = 0; b < shared.Blocks; b++)
                {
                    table[b] = shared.Source * blocksPerSeq + b;
                }
            }
            for (int j = 0; j < newTokens.Length; j++)
            {
                int position = cached + j;
                ids.Add(newTokens[j]);
                positions.Add(position);
                slots.Add(table[position / blockSize] * blockSize + position % blockSize);
            }
            queryStart.Add(ids.Count);
            contexts.Add(cached + newTokens.Length);
            tables.Add(table);
        }
        return new ForwardBatch
        {
            NumSeqs = parts.Count,
            TokenIds = [.. ids],
            Positions = [.. positions],
            SlotMapping = [.. slots],
            QueryStart = [.. queryStart],
            ContextLens = [.. contexts],
            BlockTables = [.. tables],
        };
    }

    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int j = 1; j < row.Length; j++)
        {
            if (row[j] > row[best])
            {
                best = j;
            }
        }
        return best;
    }

    public static double[] LogSoftmax(float[] logits)
    {
        double max = double.NegativeInfinity;
        foreach (float v in logits)
        {
            max = Math.Max(max, v);
        }
        double sum = 0;
        foreach (float v in logits)
        {
            sum += Math.Exp(v - max);
        }
        double logSum = max + Math.Log(sum);
        return Array.ConvertAll(logits, v => v - logSum);
    }
}
