using ReasoningServe.Inference.Backends.Cpu;
using Cpu = ReasoningServe.Inference.Backends.Cpu.Ops;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>The CPU backend's paged attention (fp32) as the reference every GPU attention kernel is checked against.</summary>
internal static unsafe class CpuAttention
{
    /// <summary>
    /// Attention of <paramref name="tokens"/> query rows [tokens, heads * d] over fp32 K/V caches [slots, kvHeads * d]:
    /// token t belongs to sequence tokenSeq[t] and sees positions 0..tokenLastPosition[t] through its block table.
    /// </summary>
    public static float[] Forward(float[] q, float[] kCache, float[] vCache, int tokens, int[] tokenSeq, int[] tokenLastPosition, int[][] tables,
        int heads, int kvHeads, int d, int blockSize)
    {
        var output = new float[tokens * heads * d];
        using var pool = new CpuWorkerPool(Math.Min(8, Environment.ProcessorCount));
        var scratch = new NativeBuffer[pool.WorkerCount];
        int longest = tokenLastPosition.Max() + 1;
        for (int i = 0; i < scratch.Length; i++)
        {
            scratch[i] = new NativeBuffer(Cpu.PagedAttention.ScratchLength(longest));
        }
        try
        {
            var attention = new Cpu.PagedAttention(pool, scratch, heads, kvHeads, d);
            fixed (float* qp = q, op = output, kp = kCache, vp = vCache)
            {
                attention.Forward(qp, op, tokens, tokenSeq, tokenLastPosition, tables, kp, vp, blockSize);
            }
        }
        finally
        {
            foreach (NativeBuffer b in scratch)
            {
                b.Dispose();
            }
        }
        return output;
    }
}
