using System.Diagnostics;
using Microsoft.Extensions.Options;
using ReasoningServe.Api.Options;
using ReasoningServe.Api.Telemetry;

namespace ReasoningServe.Api.Routing;

/// <summary>
/// Chooses the replica for one attempt, in the spirit of Ray Serve's PrefixCacheAffinityRouter: when the request's
/// prompt shares at least <see cref="AffinityOptions.MinMatchChars"/> leading characters with earlier traffic, it goes
/// where that traffic went (its KV blocks are likely still cached there), unless that replica has more than
/// <see cref="AffinityOptions.MaxQueueGap"/> requests in flight beyond the least loaded candidate; otherwise, and on
/// retries, least outstanding requests by the power of two choices decides.
/// </summary>
internal sealed class PrefixAffinity(PrefixIndex index, IOptions<FrontOptions> options, FrontMetrics metrics)
{
    private readonly AffinityOptions _options = options.Value.Affinity;

    public PromptPrefix PrefixOf(string model, string promptText) => _options.Enabled
        ? PromptPrefix.Of(model, promptText, _options.BlockChars, _options.MaxIndexedChars)
        : PromptPrefix.Empty;

    public async ValueTask<Replica> ChooseAsync(string model, PromptPrefix prefix, List<Replica> candidates, bool firstAttempt)
    {
        var minBlocks = (_options.MinMatchChars + _options.BlockChars - 1) / Math.Max(1, _options.BlockChars);
        if (firstAttempt && prefix.BlockHashes.Length >= Math.Max(1, minBlocks))
        {
            var (owner, blocks) = await index.LookupAsync(prefix.BlockHashes);
            if (owner is not null && blocks >= minBlocks && candidates.Find(r => r.Id == owner) is { } preferred)
            {
                Activity.Current?.SetTag("reasoningserve.affinity.matched_chars", blocks * _options.BlockChars);
                if (preferred.Outstanding - ReplicaSelector.LeastOutstanding(candidates) <= _options.MaxQueueGap)
                {
                    metrics.Routed(model, "affinity");
                    return preferred;
                }
                metrics.Routed(model, "affinity_overloaded");
                return ReplicaSelector.PowerOfTwo(candidates);
            }
        }
        metrics.Routed(model, "balanced");
        return ReplicaSelector.PowerOfTwo(candidates);
    }

    /// <summary>After a replica accepted the request (headers received): it now holds this prefix.</summary>
    public void Served(PromptPrefix prefix, Replica replica) => index.Record(prefix.BlockHashes, replica.Id);
}
