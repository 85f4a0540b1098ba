namespace ReasoningServe.Api.Routing;

/// <summary>
/// Least outstanding requests by the power of two choices: sample two distinct candidates at random and take the one
/// with fewer requests in flight. Nearly as good as scanning for the global minimum, and it does not send every
/// front instance's next request to the same momentarily idle replica.
/// </summary>
internal static class ReplicaSelector
{
    /// <summary>Replicas that may take the next attempt: available (breaker closed) and not tried yet for this request.</summary>
    public static List<Replica> Candidates(Replica[] serving, IReadOnlyCollection<Replica> tried)
    {
        var candidates = new List<Replica>(serving.Length);
        foreach (var replica in serving)
        {
            if (replica.IsAvailable && !tried.Contains(replica))
            {
                candidates.Add(replica);
            }
        }
        return candidates;
    }

    public static Replica PowerOfTwo(List<Replica> candidates)
    {
        if (candidates.Count == 1)
        {
            return candidates[0];
        }
        var first = Random.Shared.Next(candidates.Count);
        var second = Random.Shared.Next(candidates.Count - 1);
        if (second >= first)
        {
            second++;
        }
        var a = candidates[first];
        var b = candidates[second];
        return b.Outstanding < a.Outstanding ? b : a;
    }

    public static int LeastOutstanding(List<Replica> candidates)
    {
        var least = int.MaxValue;
        foreach (var replica in candidates)
        {
            least = Math.Min(least, replica.Outstanding);
        }
        return least;
    }
}
