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
                Fill(tensor, isNorm ? null : new SplitMix64(seed * 0x9E3779B97F4A7C15UL + ++tensorIndex), scale);
                return tensor;
            }, arena);
        }
        catch
        {
            arena.Dispose();
            throw;
        }
    }

    private static unsafe void Fill(TensorView tensor, SplitMix64? random, float scale)
    {
        long n = tensor.ElementCount;
        for (long i = 0; i < n; i++)
        {
            float value = random is null ? 1f : (float)((random.NextUnit() * 2 - 1) * scale);
            switch (tensor.DType)
            {
                case TensorDType.F32: ((float*)tensor.Data)[i] = value; break;
                case TensorDType.F16: ((Half*)tensor.Data)[i] = (Half)value; break;
                case TensorDType.BF16: ((ushort*)tensor.Data)[i] = TensorConvert.SingleToBFloat16(value); break;
            }
        }
    }

    /// <summary>Small, fast and seedable; quality beyond "not obviously patterned" does not matter here.</summary>
    private sealed class SplitMix64(ulong state)
    {
        public double NextUnit()
        {
            ulong z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (z >> 11) * (1.0 / (1UL << 53));
        }
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
