using ReasoningServe.Inference.Engine;

namespace ReasoningServe.Tests.Engine;

/// <summary>Sequences for tests that drive the block manager, scheduler and sampler without a model.</summary>
internal static class Seqs
{
    private static int s_next;

    public static Sequence New(int[] prompt, SamplingParams? sampling = null, Random? rng = null) =>
        new($"r{Interlocked.Increment(ref s_next)}", 0, prompt, sampling ?? new SamplingParams(), rng, detokenizer: null);

    public static int[] Range(int length, int start = 0) => Enumerable.Range(start, length).ToArray();
}
