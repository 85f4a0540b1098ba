using System.Collections.Concurrent;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// BPE over one pre-tokenized word (already in the byte-level alphabet): start from single characters and apply the
/// lowest-ranked merge among adjacent pairs (leftmost first among equal ranks) until none applies. Results are cached
/// per word.
/// </summary>
/// <remarks>
/// The merge loop is HF's Word::merge_all: a priority queue of candidate merges ordered by (rank, position), with
/// entries whose symbols have changed since they were queued skipped when popped. That is O(n log n) in the word's
/// length; rescanning the word for the best pair after every merge is O(n²), which a single pre-token can make hurt —
/// a 10,000-character Chinese run is one \p{L}+ word of 30,000 bytes (about a second that way, milliseconds this way).
/// </remarks>
internal sealed class BytePairEncoder
{
    private const int MaxCacheEntries = 200_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<(int Left, int Right), (int Rank, int Merged)> _merges;
    private readonly int[] _charToId;
    private readonly bool _ignoreMerges;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    [ThreadStatic] private static PriorityQueue<(int Position, int Merged), (int Rank, int Position)>? t_queue;

    /// <param name="vocab">Token string → id.</param>
    /// <param name="merges">Merge rules in rank order; a later duplicate of a pair replaces the earlier one, as in HF.</param>
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
                _merges[(l, r)] = (rank, merged);
            }
        }

        // Byte-level words only hold the 256 alphabet characters, all below U+0144.
        _charToId = new int[512];
        Array.Fill(_charToId, -1);
        foreach (char c in ByteLevel.ByteToChar)
        {
            if (vocab.TryGetValue(c.ToString(), out int id))
            {
                _charToId[c] = id;
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
        int n = word.Length;
        var symbols = new int[n];
        for (int i = 0; i < n; i++)
        {
            char c = word[i];
            int id = c < _charToId.Length ? _charToId[c] : -1;
            // Every byte-level character is in a byte-level vocabulary; anything else cannot be encoded.
            symbols[i] = id >= 0 || _vocab.TryGetValue(c.ToString(), out id)
                ? id
                : throw new InvalidOperationException($"The vocabulary has no token for the character U+{(int)c:X4}.");
        }
        if (n < 2)
        {
            return symbols;
        }

        // A doubly linked list over the symbols; a merge folds the right symbol into the left one.
        var next = new int[n];
        var prev = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
            alive[i] = true;
        }

        var queue = t_queue ??= new();
        queue.Clear();
        for (int i = 0; i + 1 < n; i++)
        {
            Enqueue(queue, i, symbols[i], symbols[i + 1]);
        }

        int remaining = n;
        while (queue.TryDequeue(out var candidate, out _))
        {
            int at = candidate.Position;
            int right = next[at];
            // Skip candidates made stale by an earlier merge of either symbol.
            if (!alive[at] || right < 0
                || !_merges.TryGetValue((symbols[at], symbols[right]), out var merge) || merge.Merged != candidate.Merged)
            {
                continue;
            }

            symbols[at] = merge.Merged;
            alive[right] = false;
            remaining--;
            next[at] = next[right];
            if (next[at] >= 0)
            {
                prev[next[at]] = at;
                Enqueue(queue, at, symbols[at], symbols[next[at]]);
            }
            if (prev[at] >= 0)
            {
                Enqueue(queue, prev[at], symbols[prev[at]], symbols[at]);
            }
        }

        var result = new int[remaining];
        int k = 0;
        for (int i = 0; i >= 0; i = next[i])
        {
            result[k++] = symbols[i]; // symbol 0 is never folded away, so the list starts there
        }
        return result;
    }

    private void Enqueue(PriorityQueue<(int Position, int Merged), (int Rank, int Position)> queue, int at, int left, int right)
    {
        if (_merges.TryGetValue((left, right), out var merge))
        {
            queue.Enqueue((at, merge.Merged), (merge.Rank, at));
        }
    }
}
