using System.Numerics.Tensors;

namespace ReasoningServe.Inference.Backends.Cpu.Ops;

/// <summary>
/// y = x * rsqrt(mean(x^2) + eps) * w   over the last dimension, in fp32 (HF upcasts to fp32 for this too).
/// Used for the layer norms (rows of hidden size) and for Qwen3's q/k norms (rows of head_dim, one per head).
/// </summary>
internal static class RmsNorm
{
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        int n = weight.Length;
        for (int row = 0; row < x.Length / n; row++)
        {
            ReadOnlySpan<float> xr = x.Slice(row * n, n);
            Span<float> yr = y.Slice(row * n, n);
            float scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(xr) / n + eps);
            TensorPrimitives.Multiply(xr, scale, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }
}
