using System.Numerics.Tensors;

namespace ReasoningServe.Inference.Backends.Cpu.Ops;

/// <summary>y = silu(gate) * up, silu(g) = g * sigmoid(g)   (the SwiGLU MLP's activation; y may alias gate)</summary>
internal static class SiluAndMul
{
    public static void Forward(Span<float> gate, ReadOnlySpan<float> up, Span<float> y)
    {
        TensorPrimitives.Sigmoid(gate, y);
        TensorPrimitives.Multiply(y, gate, y);
        TensorPrimitives.Multiply(y, up, y);
    }
}
