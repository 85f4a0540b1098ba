namespace ReasoningServe.Inference.Engine;

/// <summary>
/// Partial ordering of token indices by a score array, for top-k, top-p and top logprobs without sorting the whole
/// vocabulary. Equal scores order by the lower token id first, so results never depend on the input order.
/// </summary>
internal static class TopSelection
{
    /// <summary>Reorders <paramref name="indices"/> so its first <paramref name="m"/> entries are the m best (unordered).</summary>
    public static void SelectLargest(Span<int> indices, float[] scores, int m)
    {
        if (m <= 0 || m >= indices.Length)
        {
            return;
        }
        var better = new Better(scores);
        int target = m - 1;
        int lo = 0;
        int hi = indices.Length - 1;
        while (lo < hi)
        {
            int pivot = indices[lo + (hi - lo) / 2];
            int i = lo;
            int j = hi;
            while (i <= j)
            {
                while (better.Compare(indices[i], pivot) < 0)
                {
                    i++;
                }
                while (better.Compare(pivot, indices[j]) < 0)
                {
                    j--;
                }
                if (i <= j)
                {
                    (indices[i], indices[j]) = (indices[j], indices[i]);
                    i++;
                    j--;
                }
            }
            if (target <= j)
            {
                hi = j;
            }
            else if (target >= i)
            {
                lo = i;
            }
            else
            {
                return;
            }
        }
    }

    /// <summary>Sorts indices best first.</summary>
    public static void SortDescending(Span<int> indices, float[] scores) => indices.Sort(new Better(scores));

    /// <summary>Orders a before b (negative) when a scores higher, or scores the same with a lower id.</summary>
    private readonly struct Better(float[] scores) : IComparer<int>
    {
        public int Compare(int a, int b)
        {
            int c = scores[b].CompareTo(scores[a]);
            return c != 0 ? c : a.CompareTo(b);
        }
    }
}
