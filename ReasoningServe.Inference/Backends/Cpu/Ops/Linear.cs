using System.Numerics;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Inference.Backends.Cpu.Ops;

/// <summary>
/// y[t, o] = sum_i x[t, i] * W[o, i] + b[o]   (HF nn.Linear: W is [out, in], row-major)
///
/// Every projection of the model goes through this class, so tensor parallelism can later shard it in one place
/// (column-parallel = a slice of rows, row-parallel = a slice of columns plus an all-reduce). The weight stays in its
/// stored type; a tile of <see cref="TileRows"/> rows is widened to fp32 into per-worker scratch and then dotted with
/// every token's input, so each weight byte is read once per step however many tokens run (decode is bound by weight
/// bandwidth, not arithmetic).
/// </summary>
internal sealed unsafe class Linear(TensorView weight, float[]? bias)
{
    public const int TileRows = 4;
    public const int TokenBlock = 32;

    public TensorView Weight { get; } = weight;
    public float[]? Bias { get; } = bias;
    public int InFeatures => Weight.Columns;
    public int OutFeatures => Weight.Rows;

    /// <summary>Scratch floats one worker needs for <see cref="ComputeRows"/>.</summary>
    public int ScratchLength => Weight.DType == TensorDType.F32 ? 0 : TileRows * InFeatures;

    /// <summary>Computes output columns [rowBegin, rowEnd) for all <paramref name="tokens"/> rows of x; y has row stride ldy.</summary>
    /// <remarks>
    /// Tokens go in blocks of <see cref="TokenBlock"/> so a long prefill's inputs stay in L2 while a tile of rows is
    /// dotted with them; widening is repeated per block, a few percent of the arithmetic. Decode is a single block.
    /// </remarks>
    public void ComputeRows(float* x, int tokens, float* y, int ldy, int rowBegin, int rowEnd, float* scratch)
    {
        int n = InFeatures;
        float** rows = stackalloc float*[TileRows];
        for (int tokenStart = 0; tokenStart < tokens; tokenStart += TokenBlock)
        {
            int tokenEnd = Math.Min(tokens, tokenStart + TokenBlock);
            for (int r = rowBegin; r < rowEnd; r += TileRows)
            {
                int count = Math.Min(TileRows, rowEnd - r);
                for (int j = 0; j < count; j++)
                {
                    rows[j] = WidenRow(r + j, scratch + j * n);
                }
                for (int j = count; j < TileRows; j++)
                {
                    rows[j] = rows[0];
                }
                for (int t = tokenStart; t < tokenEnd; t++)
                {
                    float* xt = x + (long)t * n;
                    float* yt = y + (long)t * ldy + r;
                    Dot4(xt, rows[0], rows[1], rows[2], rows[3], n, out float d0, out float d1, out float d2, out float d3);
                    yt[0] = d0;
                    if (count > 1) { yt[1] = d1; }
                    if (count > 2) { yt[2] = d2; }
                    if (count > 3) { yt[3] = d3; }
                    if (Bias is { } b)
                    {
                        for (int j = 0; j < count; j++)
                        {
                            yt[j] += b[r + j];
                        }
                    }
                }
            }
        }
    }

    private float* WidenRow(int row, float* destination)
    {
        long offset = (long)row * InFeatures;
        switch (Weight.DType)
        {
            case TensorDType.F32:
                return (float*)Weight.Data + offset;
            case TensorDType.BF16:
                TensorConvert.BFloat16ToSingle(new ReadOnlySpan<ushort>((ushort*)Weight.Data + offset, InFeatures), new Span<float>(destination, InFeatures));
                return destination;
            default:
                TensorConvert.HalfToSingle(new ReadOnlySpan<ushort>((ushort*)Weight.Data + offset, InFeatures), new Span<float>(destination, InFeatures));
                return destination;
        }
    }

    /// <summary>Four dot products sharing each load of x (fp32 FMA accumulation).</summary>
    private static void Dot4(float* x, float* w0, float* w1, float* w2, float* w3, int n, out float d0, out float d1, out float d2, out float d3)
    {
        Vector<float> a0 = Vector<float>.Zero, a1 = Vector<float>.Zero, a2 = Vector<float>.Zero, a3 = Vector<float>.Zero;
        int width = Vector<float>.Count;
        int i = 0;
        for (; i <= n - width; i += width)
        {
            Vector<float> xv = Vector.Load(x + i);
            a0 = Vector.FusedMultiplyAdd(xv, Vector.Load(w0 + i), a0);
            a1 = Vector.FusedMultiplyAdd(xv, Vector.Load(w1 + i), a1);
            a2 = Vector.FusedMultiplyAdd(xv, Vector.Load(w2 + i), a2);
            a3 = Vector.FusedMultiplyAdd(xv, Vector.Load(w3 + i), a3);
        }
        float s0 = Vector.Sum(a0), s1 = Vector.Sum(a1), s2 = Vector.Sum(a2), s3 = Vector.Sum(a3);
        for (; i < n; i++)
        {
            s0 += x[i] * w0[i];
            s1 += x[i] * w1[i];
            s2 += x[i] * w2[i];
            s3 += x[i] * w3[i];
        }
        d0 = s0;
        d1 = s1;
        d2 = s2;
        d3 = s3;
    }
}
