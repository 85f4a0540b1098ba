using System.Globalization;

namespace ReasoningServe.Inference.Serving;

/// <summary>
/// What start-up did, logged once when the server is built, as vLLM logs it: where the model went and how long loading
/// took, then the KV cache in blocks and tokens and how many full-length requests it holds at once.
/// </summary>
internal sealed record StartupReport(
    string Model, string Architecture, int Layers, string Device, long? WeightBytes, double LoadSeconds,
    int KvBlocks, int BlockSize, long KvBlockBytes, int MaxModelLen, int MaxNumSeqs)
{
    private const double GiB = 1L << 30;

    public IEnumerable<string> Lines()
    {
        string weights = WeightBytes is long bytes ? string.Create(CultureInfo.InvariantCulture, $", {bytes / GiB:F2} GiB of weights") : "";
        yield return string.Create(CultureInfo.InvariantCulture,
            $"Loaded {Model} ({Architecture}, {Layers} layers) on {Device}{weights} in {LoadSeconds:F1} s");
        long tokens = (long)KvBlocks * BlockSize;
        yield return string.Create(CultureInfo.InvariantCulture,
            $"KV cache: {KvBlocks} blocks of {BlockSize} tokens = {tokens} tokens ({KvBlocks * KvBlockBytes / GiB:F2} GiB); "
            + $"maximum concurrency for {MaxModelLen}-token requests: {(double)tokens / MaxModelLen:F2}x (max_num_seqs {MaxNumSeqs})");
    }
}
