using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// Byte-level BPE over one pre-token: the word's UTF-8 bytes become byte-alphabet symbols, then the lowest-ranked
/// adjacent pair is merged (leftmost first among equal ranks) until no pair has a merge — HF `tokenizers`' algorithm,
/// including its `ignore_merges` shortcut (a word that is itself in the vocabulary is one token). Results are cached
/// per word.
/// </summary>
internal sealed class BytePairEncoder
{
    /// <summary>Words longer than this are not cached (HF uses the same bound), so one huge word cannot pin memory.</summary>
    private const int MaxCachedWordLength = 256;
    private const int CacheCapacity = 20_000;

    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocab;
    private readonly Dictionary<(int Left, int Right), Merge> _merges;
    private readonly int[] _byteToId;
    private readonly bool _ignoreMerges;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;

    [ThreadStatic] private static PriorityQueue<long, long>? t_queue;

    private readonly record struct Merge(int Rank, int NewId);

    /// <param name="vocab">token string to id (byte-level strings).</param>
    /// <param name="merges">merge pairs in rank order; a later duplicate of a pair replaces the earlier one, as in HF.</param>
    public BytePairEncoder(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, bool ignoreMerges,
        Func<string, Exception> error)
    {
        _vocab = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _ignoreMerges = ignoreMerges;
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();

        _byteToId = new int[256];
        Span<char> one = stackalloc char[1];
        for (int b = 0; b < 256; b++)
        {
            one[0] = ByteLevelAlphabet.ToChar((byte)b);
            _byteToId[b] = _vocab.TryGetValue(one, out int id) ? id : -1;
        }

        _merges = new Dictionary<(int Left, int Right), Merge>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!vocab.TryGetValue(left, out int a))
            {
                throw error($"merge {rank} ('{left} {right}') uses '{left}', which is not in the vocabulary");
            }
            if (!vocab.TryGetValue(right, out int b))
            {
                throw error($"merge {rank} ('{left} {right}') uses '{right}', which is not in the vocabulary");
            }
            if (!vocab.TryGetValue(left + right, out int merged))
            {
                throw error($"merge {rank} ('{left} {right}') produces '{left + right}', which is not in the vocabulary");
            }
            _merges[PairKey(a, b)] = new Merge(rank, merged);
        }
    }

    /// <summary>Appends the ids of one pre-token (original text, not yet byte-level mapped).</summary>
    public void Encode(ReadOnlySpan<char> word, List<int> output)
    {
        if (word.IsEmpty)
        {
            return;
        }
        if (_cacheLookup.TryGetValue(word, out int[]? cached))
        {
            output.AddRange(cached);
            return;
        }

        int[] ids = EncodeUncached(word);
        output.AddRange(ids);
        if (word.Length <= MaxCachedWordLength)
        {
            if (_cache.Count >= CacheCapacity)
            {
                // Crude but bounded: text with endless distinct words starts the cache afresh instead of growing.
                _cache.Clear();
            }
            _cacheLookup.TryAdd(word, ids);
        }
    }

    private int[] EncodeUncached(ReadOnlySpan<char> word)
    {
        int maxBytes = Encoding.UTF8.GetMaxByteCount(word.Length);
        byte[]? rented = null;
        Span<byte> bytes = maxBytes <= 1024 ? stackalloc byte[1024] : (rented = ArrayPool<byte>.Shared.Rent(maxBytes));
        try
        {
            int count = Encoding.UTF8.GetBytes(word, bytes);
            bytes = bytes[..count];
            if (_ignoreMerges && TryWholeWord(bytes, out int wholeId))
            {
                return [wholeId];
            }
            return MergeAll(bytes);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private bool TryWholeWord(ReadOnlySpan<byte> bytes, out int id)
    {
        char[]? rented = null;
        Span<char> chars = bytes.Length <= 512 ? stackalloc char[512] : (rented = ArrayPool<char>.Shared.Rent(bytes.Length));
        try
        {
            for (int i = 0; i < bytes.Length; i++)
            {
                chars[i] = ByteLevelAlphabet.ToChar(bytes[i]);
            }
            return _vocab.TryGetValue(chars[..bytes.Length], out id);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>HF's Word::merge_all: a queue of candidate merges ordered by (rank, position); stale entries (whose
    /// symbols have since changed) are skipped when popped.</summary>
    private int[] MergeAll(ReadOnlySpan<byte> bytes)
    {
        int n = 0;
        var symbols = new int[bytes.Length];
        foreach (byte b in bytes)
        {
            int id = _byteToId[b];
            if (id >= 0)
            {
                symbols[n++] = id; // a byte missing from the vocabulary is dropped, as HF does without unk_token
            }
        }
        if (n <= 1)
        {
            return n == 0 ? [] : [symbols[0]];
        }

        var prev = new int[n];
        var next = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            alive[i] = true;
        }

        var queue = t_queue ??= new PriorityQueue<long, long>();
        queue.Clear();
        for (int i = 0; i + 1 < n; i++)
        {
            Enqueue(queue, i, symbols[i], symbols[i + 1]);
        }

        int remaining = n;
        while (queue.TryDequeue(out long entry, out _))
        {
            int pos = (int)(entry >> 32);
            int newId = (int)entry;
            if (!alive[pos] || next[pos] < 0)
            {
                continue;
            }
            int right = next[pos];
            if (!_merges.TryGetValue(PairKey(symbols[pos], symbols[right]), out Merge current) || current.NewId != newId)
            {
                continue;
            }

            symbols[pos] = newId;
            alive[right] = false;
            remaining--;
            next[pos] = next[right];
            if (next[right] >= 0)
            {
                prev[next[right]] = pos;
            }
            if (prev[pos] >= 0)
            {
                Enqueue(queue, prev[pos], symbols[prev[pos]], newId);
            }
            if (next[pos] >= 0)
            {
                Enqueue(queue, pos, newId, symbols[next[pos]]);
            }
        }

        var result = new int[remaining];
        int k = 0;
        for (int i = 0; i >= 0; i = next[i])
        {
            result[k++] = symbols[i];
        }
        return result;
    }

    private void Enqueue(PriorityQueue<long, long> queue, int pos, int left, int right)
    {
        if (_merges.TryGetValue(PairKey(left, right), out Merge merge))
        {
            queue.Enqueue(((long)pos << 32) | (uint)merge.NewId, ((long)merge.Rank << 32) | (uint)pos);
        }
    }

    private static (int Left, int Right) PairKey(int left, int right) => (left, right);
}
