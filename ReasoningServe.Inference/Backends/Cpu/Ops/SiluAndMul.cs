using System.Numerics.Tensors;

namespace ReasoningServe.Inference.Backends.Cpu.Ops;

/// <summary>y = silu(gate) * up, silu(g) = g * sigmoid(g)   (the SwiGLU MLP's activation)</summary>
internal static class SiluAndMul
{
    private const int Chunk = 256;

    /// <remarks>y may alias gate (the backend writes the result over gate); sigmoid goes through a stack chunk so gate is
    /// read before it is overwritten.</remarks>
    public static void Forward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y)
    {
        Span<float> sigmoid = stackalloc float[Chunk];
        for (int start = 0; start < gate.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, gate.Length - start);
            Span<float> s = sigmoid[..n];
            TensorPrimitives.Sigmoid(gate.Slice(start, n), s);
            TensorPrimitives.Multiply(s, gate.Slice(start, n), s);
            TensorPrimitives.Multiply(s, up.Slice(start, n), y.Slice(start, n));
        }
    }
}
