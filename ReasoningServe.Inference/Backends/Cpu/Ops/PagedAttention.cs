using System.Numerics.Tensors;

namespace ReasoningServe.Inference.Backends.Cpu.Ops;

/// <summary>
/// Causal attention of each new token over its sequence's paged context, grouped-query:
///   s_j = (q_h · k_{g,j}) / sqrt(d)   for context positions j &lt;= p (p = the token's own position in its sequence)
///   o_h = sum_j softmax(s)_j v_{g,j}   with g = h / (heads / kvHeads), softmax in fp32 after subtracting max
/// Context position j lives in slot blockTable[j / blockSize] * blockSize + j % blockSize. The new tokens' K/V must
/// already be written (<see cref="KvCacheWrite"/>), so prefill chunks, prefix-cache hits and decode share one path.
/// One parallel item per (token, head).
/// </summary>
internal sealed unsafe class PagedAttention(CpuWorkerPool pool, NativeBuffer[] workerScratch, int heads, int kvHeads, int headDim) : ParallelJob
{
    private readonly float _scale = 1f / MathF.Sqrt(headDim);
    private float* _q;
    private float* _out;
    private float* _kCache;
    private float* _vCache;
    private int _blockSize;
    private int[] _tokenSeq = [];
    private int[] _tokenLastPosition = [];
    private int[][] _blockTables = [];

    /// <summary>Scratch floats one worker needs for a context of <paramref name="contextLength"/> tokens.</summary>
    public static int ScratchLength(int contextLength) => contextLength;

    /// <param name="tokenSeq">Per token: its sequence index.</param>
    /// <param name="tokenLastPosition">Per token: the last context position it may attend to (its own).</param>
    public void Forward(float* q, float* output, int tokens, int[] tokenSeq, int[] tokenLastPosition, int[][] blockTables,
        float* kCache, float* vCache, int blockSize)
    {
        _q = q;
        _out = output;
        _tokenSeq = tokenSeq;
        _tokenLastPosition = tokenLastPosition;
        _blockTables = blockTables;
        _kCache = kCache;
        _vCache = vCache;
        _blockSize = blockSize;
        pool.Run(tokens * heads, this);
    }

    public override void Execute(int item, int worker)
    {
        int t = item / heads;
        int h = item % heads;
        int g = h / (heads / kvHeads);
        int contextLength = _tokenLastPosition[t] + 1;
        int[] blockTable = _blockTables[_tokenSeq[t]];
        int kvStride = kvHeads * headDim;

        var q = new ReadOnlySpan<float>(_q + ((long)t * heads + h) * headDim, headDim);
        var scores = new Span<float>(workerScratch[worker].Pointer, contextLength);
        for (int j = 0; j < contextLength; j++)
        {
            long slot = (long)blockTable[j / _blockSize] * _blockSize + j % _blockSize;
            scores[j] = TensorPrimitives.Dot(q, new ReadOnlySpan<float>(_kCache + slot * kvStride + g * headDim, headDim)) * _scale;
        }
        float max = TensorPrimitives.Max(scores);
        TensorPrimitives.Subtract(scores, max, scores);
        TensorPrimitives.Exp(scores, scores);
        float inverseSum = 1f / TensorPrimitives.Sum(scores);

        var output = new Span<float>(_out + ((long)t * heads + h) * headDim, headDim);
        output.Clear();
        for (int j = 0; j < contextLength; j++)
        {
            long slot = (long)blockTable[j / _blockSize] * _blockSize + j % _blockSize;
            var v = new ReadOnlySpan<float>(_vCache + slot * kvStride + g * headDim, headDim);
            TensorPrimitives.MultiplyAdd(v, scores[j], output, output);
        }
        TensorPrimitives.Multiply(output, inverseSum, output);
    }
}
