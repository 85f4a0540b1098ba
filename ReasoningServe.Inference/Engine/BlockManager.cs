using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace ReasoningServe.Inference.Engine;

/// <summary>
/// Bookkeeping of the paged KV cache: which physical blocks each sequence owns, reference counts, and the automatic
/// prefix cache. A full, computed block is keyed by a 128-bit hash chained from its predecessor's hash and its own
/// token ids, so equal hashes mean equal prefixes (up to a 2^-128 collision chance, which we accept instead of
/// comparing tokens). Blocks whose reference count drops to zero go to a free list; hashed ones keep their contents
/// and stay findable until the free list hands them out again, least recently freed first.
/// </summary>
internal sealed class BlockManager
{
    private const int None = -1;

    private readonly int[] _refCount;
    private readonly UInt128[] _hash;
    private readonly bool[] _hasHash;
    private readonly Dictionary<UInt128, int> _cachedBlocks = [];
    private readonly bool _enablePrefixCaching;
    private readonly XxHash128 _hasher = new();

    // Free blocks form an intrusive doubly linked list: allocation takes from the head, hashed blocks are freed to the
    // tail (so the least recently used cached block is evicted first), unhashed ones to the head (nothing to keep).
    private readonly int[] _prev;
    private readonly int[] _next;
    private int _head = None;
    private int _tail = None;

    public BlockManager(int numBlocks, int blockSize, bool enablePrefixCaching)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numBlocks);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        NumTotalBlocks = numBlocks;
        BlockSize = blockSize;
        _enablePrefixCaching = enablePrefixCaching;
        _refCount = new int[numBlocks];
        _hash = new UInt128[numBlocks];
        _hasHash = new bool[numBlocks];
        _prev = new int[numBlocks];
        _next = new int[numBlocks];
        for (int b = 0; b < numBlocks; b++)
        {
            PushTail(b);
        }
        NumFreeBlocks = numBlocks;
    }

    public int NumTotalBlocks { get; }
    public int BlockSize { get; }
    public int NumFreeBlocks { get; private set; }

    /// <summary>Prompt tokens looked up in the prefix cache (vLLM's prefix_cache_queries, in tokens).</summary>
    public long PrefixCacheQueries { get; private set; }

    /// <summary>Tokens of those lookups served from the cache (vLLM's prefix_cache_hits, in tokens).</summary>
    public long PrefixCacheHits { get; private set; }

    public int BlocksNeeded(int numTokens) => (numTokens + BlockSize - 1) / BlockSize;

    /// <summary>
    /// For a sequence that holds no blocks: the longest chain of cached full blocks that prefixes its tokens, leaving at
    /// least one token to compute so the model produces logits. Fills <paramref name="hits"/> with their block ids.
    /// </summary>
    public void FindCachedPrefix(Sequence seq, List<int> hits)
    {
        hits.Clear();
        if (!_enablePrefixCaching)
        {
            return;
        }
        int maxBlocks = (seq.NumTokens - 1) / BlockSize;
        for (int i = 0; i < maxBlocks; i++)
        {
            UInt128 hash = HashOfBlock(seq, i);
            if (!_cachedBlocks.TryGetValue(hash, out int block))
            {
                break;
            }
            hits.Add(block);
        }
    }

    /// <summary>
    /// Gives a sequence without blocks the cached prefix <paramref name="hits"/> plus fresh blocks for
    /// <paramref name="numNewTokens"/> more tokens. Returns false, changing nothing, when the cache cannot hold them.
    /// </summary>
    public bool AllocateWithPrefix(Sequence seq, List<int> hits, int numNewTokens)
    {
        int hitTokens = hits.Count * BlockSize;
        int needed = BlocksNeeded(hitTokens + numNewTokens) - hits.Count;
        int revived = 0;
        foreach (int b in hits)
        {
            if (_refCount[b] == 0)
            {
                revived++;
            }
        }
        if (needed + revived > NumFreeBlocks)
        {
            return false;
        }
        foreach (int b in hits)
        {
            if (_refCount[b] == 0)
            {
                Unlink(b);
                NumFreeBlocks--;
            }
            _refCount[b]++;
            seq.BlockTable.Add(b);
        }
        seq.NumComputedTokens = hitTokens;
        seq.NumRegisteredBlocks = hits.Count;
        for (int i = 0; i < needed; i++)
        {
            seq.BlockTable.Add(PopFree());
        }
        if (!seq.WasScheduled)
        {
            seq.WasScheduled = true;
            seq.NumCachedPromptTokens = hitTokens;
            if (_enablePrefixCaching)
            {
                PrefixCacheQueries += seq.NumTokens;
                PrefixCacheHits += hitTokens;
            }
        }
        return true;
    }

    /// <summary>Extends a sequence's blocks to hold <paramref name="numNewTokens"/> beyond its computed ones; false if
    /// there are not enough free blocks (nothing changes).</summary>
    public bool AppendSlots(Sequence seq, int numNewTokens)
    {
        int needed = BlocksNeeded(seq.NumComputedTokens + numNewTokens) - seq.BlockTable.Count;
        if (needed > NumFreeBlocks)
        {
            return false;
        }
        for (int i = 0; i < needed; i++)
        {
            seq.BlockTable.Add(PopFree());
        }
        return true;
    }

    /// <summary>After a step computed more of the sequence: registers each newly full block in the prefix cache.</summary>
    public void CacheFullBlocks(Sequence seq)
    {
        if (!_enablePrefixCaching)
        {
            return;
        }
        int fullBlocks = seq.NumComputedTokens / BlockSize;
        for (int i = seq.NumRegisteredBlocks; i < fullBlocks; i++)
        {
            UInt128 hash = HashOfBlock(seq, i);
            int block = seq.BlockTable[i];
            if (!_hasHash[block] && _cachedBlocks.TryAdd(hash, block))
            {
                _hash[block] = hash;
                _hasHash[block] = true;
            }
        }
        seq.NumRegisteredBlocks = Math.Max(seq.NumRegisteredBlocks, fullBlocks);
    }

    /// <summary>Drops the sequence's references; blocks nobody uses go back to the free list (hashed ones stay cached).</summary>
    public void Free(Sequence seq)
    {
        // Last block first, so that a sequence's tail is evicted before its (more widely shared) head.
        for (int i = seq.BlockTable.Count - 1; i >= 0; i--)
        {
            int b = seq.BlockTable[i];
            if (--_refCount[b] > 0)
            {
                continue;
            }
            if (_hasHash[b])
            {
                PushTail(b);
            }
            else
            {
                PushHead(b);
            }
            NumFreeBlocks++;
        }
        seq.BlockTable.Clear();
        seq.NumComputedTokens = 0;
        seq.NumRegisteredBlocks = 0;
    }

    /// <summary>Forgets every cached prefix (blocks in use keep their contents but are no longer findable).</summary>
    public void ResetPrefixCache()
    {
        foreach (int b in _cachedBlocks.Values)
        {
            _hasHash[b] = false;
        }
        _cachedBlocks.Clear();
    }

    /// <summary>The chained hash of full block <paramref name="index"/>; memoised on the sequence.</summary>
    private UInt128 HashOfBlock(Sequence seq, int index)
    {
        List<UInt128> hashes = seq.BlockHashes;
        for (int i = hashes.Count; i <= index; i++)
        {
            UInt128 parent = i == 0 ? UInt128.Zero : hashes[i - 1];
            _hasher.Append(MemoryMarshal.AsBytes(new ReadOnlySpan<UInt128>(in parent)));
            _hasher.Append(MemoryMarshal.AsBytes(TokensOfBlock(seq, i)));
            hashes.Add(_hasher.GetCurrentHashAsUInt128());
            _hasher.Reset();
        }
        return hashes[index];
    }

    private ReadOnlySpan<int> TokensOfBlock(Sequence seq, int index)
    {
        int start = index * BlockSize;
        if (start + BlockSize <= seq.NumPromptTokens)
        {
            return seq.PromptTokenIds.AsSpan(start, BlockSize);
        }
        Span<int> scratch = _blockTokens ??= new int[BlockSize];
        for (int j = 0; j < BlockSize; j++)
        {
            scratch[j] = seq.TokenAt(start + j);
        }
        return scratch;
    }

    private int[]? _blockTokens;

    private int PopFree()
    {
        int b = _head;
        if (b == None)
        {
            throw new InvalidOperationException("KV cache exhausted; the scheduler must check capacity first.");
        }
        Unlink(b);
        NumFreeBlocks--;
        if (_hasHash[b])
        {
            // Evicted: its contents are about to be overwritten.
            _cachedBlocks.Remove(_hash[b]);
            _hasHash[b] = false;
        }
        _refCount[b] = 1;
        return b;
    }

    private void PushTail(int b)
    {
        _prev[b] = _tail;
        _next[b] = None;
        if (_tail == None)
        {
            _head = b;
        }
        else
        {
            _next[_tail] = b;
        }
        _tail = b;
    }

    private void PushHead(int b)
    {
        _next[b] = _head;
        _prev[b] = None;
        if (_head == None)
        {
            _tail = b;
        }
        else
        {
            _prev[_head] = b;
        }
        _head = b;
    }

    private void Unlink(int b)
    {
        if (_prev[b] == None)
        {
            _head = _next[b];
        }
        else
        {
            _next[_prev[b]] = _next[b];
        }
        if (_next[b] == None)
        {
            _tail = _prev[b];
        }
        else
        {
            _prev[_next[b]] = _prev[b];
        }
    }
}
