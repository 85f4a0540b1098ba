using System.Runtime.InteropServices;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Inference.Model;

/// <summary>
/// <c>--load-format dummy</c>: weights from config.json alone, like vLLM's dummy init. Matrices and biases are
/// U(-scale, scale) from a fixed seed (so runs are repeatable), norms are 1. Memory is native and released on dispose.
/// </summary>
internal static class DummyWeights
{
    public const float DefaultScale = 1e-3f;

    public static ModelWeights Create(ModelConfig config, TensorDType dtype, ulong seed = 0, float scale = DefaultScale)
    {
        var arena = new NativeArena();
        try
        {
            ulong tensorIndex = 0;
            return WeightLayout.Build(config, (name, shape, _, isNorm) =>
            {
                var tensor = arena.Allocate(name, dtype, shape);
                Fill(tensor, isNorm ? null : seed * 0x9E3779B97F4A7C15UL + ++tensorIndex, scale);
                return tensor;
            }, arena);
        }
        catch
        {
            arena.Dispose();
            throw;
        }
    }

    private const ulong Gamma = 0x9E3779B97F4A7C15UL;
    private const long ChunkElements = 1 << 20;

    /// <summary>
    /// Element i of a matrix is SplitMix64's (i + 1)-th draw from the tensor's state, computed directly (the generator is a
    /// counter), so chunks fill in parallel with exactly the values a sequential fill gives: a 7B shape takes seconds,
    /// not a minute.
    /// </summary>
    private static unsafe void Fill(TensorView tensor, ulong? state, float scale)
    {
        long n = tensor.ElementCount;
        Parallel.For(0, (n + ChunkElements - 1) / ChunkElements, chunk =>
        {
            long start = chunk * ChunkElements, end = Math.Min(n, start + ChunkElements);
            for (long i = start; i < end; i++)
            {
                float value = state is ulong s ? (float)((Unit(s + (ulong)(i + 1) * Gamma) * 2 - 1) * scale) : 1f;
                switch (tensor.DType)
                {
                    case TensorDType.F32: ((float*)tensor.Data)[i] = value; break;
                    case TensorDType.F16: ((Half*)tensor.Data)[i] = (Half)value; break;
                    case TensorDType.BF16: ((ushort*)tensor.Data)[i] = TensorConvert.SingleToBFloat16(value); break;
                }
            }
        });
    }

    /// <summary>SplitMix64's output for the state after an advance, as a double in [0, 1).</summary>
    private static double Unit(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }

    private sealed unsafe class NativeArena : IDisposable
    {
        private readonly List<nint> _blocks = [];

        public TensorView Allocate(string name, TensorDType dtype, int[] shape)
        {
            long elements = 1;
            foreach (int d in shape)
            {
                elements *= d;
            }
            nint data = (nint)NativeMemory.AlignedAlloc((nuint)(elements * dtype.SizeOf()), 64);
            _blocks.Add(data);
            return new TensorView(name, dtype, shape, data);
        }

        public void Dispose()
        {
            foreach (nint block in _blocks)
            {
                NativeMemory.AlignedFree((void*)block);
            }
            _blocks.Clear();
        }
    }
}
