namespace ReasoningServe.Api.Routing;

/// <summary>
/// In-process prefix index: block hash → replica id, with a time to live and a least-recently-used bound on the number
/// of entries. Serves alone without Redis, and as the fallback (kept warm by every write) while Redis is down.
/// </summary>
internal sealed class LocalPrefixIndex(int maxEntries, TimeSpan ttl, TimeProvider time)
{
    private sealed class Entry(ulong hash)
    {
        public ulong Hash { get; } = hash;
        public required string Replica { get; set; }
        public long ExpiresAt { get; set; }
    }

    private readonly Dictionary<ulong, LinkedListNode<Entry>> _entries = [];
    private readonly LinkedList<Entry> _recency = new();
    private readonly Lock _lock = new();

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>The owner of the longest indexed prefix, and how many blocks it covers (0 when none).</summary>
    public (string? Replica, int Blocks) Lookup(ulong[] hashes)
    {
        var now = time.GetTimestamp();
        lock (_lock)
        {
            for (var i = hashes.Length - 1; i >= 0; i--)
            {
                if (!_entries.TryGetValue(hashes[i], out var node))
                {
                    continue;
                }
                if (node.Value.ExpiresAt <= now)
                {
                    Remove(node);
                    continue;
                }
                _recency.Remove(node);
                _recency.AddFirst(node);
                return (node.Value.Replica, i + 1);
            }
        }
        return (null, 0);
    }

    public void Record(ulong[] hashes, string replica)
    {
        var expiresAt = time.GetTimestamp() + (long)(ttl.TotalSeconds * time.TimestampFrequency);
        lock (_lock)
        {
            foreach (var hash in hashes)
            {
                if (_entries.TryGetValue(hash, out var node))
                {
                    node.Value.Replica = replica;
                    node.Value.ExpiresAt = expiresAt;
                    _recency.Remove(node);
                    _recency.AddFirst(node);
                    continue;
                }
                _entries[hash] = _recency.AddFirst(new Entry(hash) { Replica = replica, ExpiresAt = expiresAt });
                while (_entries.Count > maxEntries && _recency.Last is { } oldest)
                {
                    Remove(oldest);
                }
            }
        }
    }

    private void Remove(LinkedListNode<Entry> node)
    {
        _recency.Remove(node);
        _entries.Remove(node.Value.Hash);
    }
}
