using System.Collections.Concurrent;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// BPE over one pre-tokenized word (already in the byte-level alphabet): start from single characters and apply the
/// lowest-ranked merge among adjacent pairs until none applies. Results are cached per word.
/// </summary>
internal sealed class BytePairEncoder
{
    private const int MaxCacheEntries = 200_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<(int Left, int Right), (int Rank, int Merged)> _merges;
    private readonly bool _ignoreMerges;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    /// <param name="vocab">Token string → id.</param>
    /// <param name="merges">Merge rules in rank order.</param>
    /// <param name="ignoreMerges">Llama 3: a word that is itself in the vocabulary is one token, whatever the merges say.</param>
    public BytePairEncoder(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, bool ignoreMerges)
    {
        _vocab = vocab;
        _ignoreMerges = ignoreMerges;
        _merges = new Dictionary<(int, int), (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (vocab.TryGetValue(left, out int l) && vocab.TryGetValue(right, out int r)
                && vocab.TryGetValue(left + right, out int merged))
            {
                _merges.TryAdd((l, r), (rank, merged));
            }
        }
    }

    public void Encode(string word, List<int> output)
    {
        if (!_cache.TryGetValue(word, out int[]? ids))
        {
            ids = Merge(word);
            if (_cache.Count >= MaxCacheEntries)
            {
                _cache.Clear();
            }
            _cache[word] = ids;
        }
        output.AddRange(ids);
    }

    private int[] Merge(string word)
    {
        if (_ignoreMerges && _vocab.TryGetValue(word, out int whole))
        {
            return [whole];
        }
        var symbols = new List<int>(word.Length);
        foreach (char c in word)
        {
            // Every byte-level character is in a byte-level vocabulary; anything else cannot be encoded.
            symbols.Add(_vocab.TryGetValue(c.ToString(), out int id)
                ? id
                : throw new InvalidOperationException($"The vocabulary has no token for the character U+{(int)c:X4}."));
        }
        while (symbols.Count > 1)
        {
            int bestRank = int.MaxValue, bestAt = -1, bestMerged = 0;
            for (int i = 0; i + 1 < symbols.Count; i++)
            {
                if (_merges.TryGetValue((symbols[i], symbols[i + 1]), out var merge) && merge.Rank < bestRank)
                {
                    (bestRank, bestAt, bestMerged) = (merge.Rank, i, merge.Merged);
                }
            }
            if (bestAt < 0)
            {
                break;
            }
            // Apply the winning merge everywhere it occurs, left to right, without overlaps.
            int left = symbols[bestAt], right = symbols[bestAt + 1];
            for (int i = bestAt; i + 1 < symbols.Count; i++)
            {
                if (symbols[i] == left && symbols[i + 1] == right)
                {
                    symbols[i] = bestMerged;
                    symbols.RemoveAt(i + 1);
                }
            }
        }
        return [.. symbols];
    }
}
