using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace ReasoningServe.Inference.Model.SafeTensors;

/// <summary>Widens stored 16-bit rows to fp32, the type all CPU math runs in.</summary>
internal static class TensorConvert
{
    /// <summary>
    /// bf16 is the top half of an fp32: f32 bits = bf16 bits &lt;&lt; 16. Widen u16 lanes to u32, shift, reinterpret.
    /// </summary>
    public static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException("destination is shorter than source", nameof(destination));
        }
        Span<uint> dst = MemoryMarshal.Cast<float, uint>(destination);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int width = Vector<ushort>.Count;
            ReadOnlySpan<Vector<ushort>> src = MemoryMarshal.Cast<ushort, Vector<ushort>>(source);
            Span<Vector<uint>> dstV = MemoryMarshal.Cast<uint, Vector<uint>>(dst);
            for (int v = 0; v < src.Length; v++)
            {
                Vector.Widen(src[v], out Vector<uint> lo, out Vector<uint> hi);
                dstV[2 * v] = Vector.ShiftLeft(lo, 16);
                dstV[2 * v + 1] = Vector.ShiftLeft(hi, 16);
            }
            i = src.Length * width;
        }
        for (; i < source.Length; i++)
        {
            dst[i] = (uint)source[i] << 16;
        }
    }

    public static void HalfToSingle(ReadOnlySpan<ushort> source, Span<float> destination) =>
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(source), destination);

    /// <summary>Rounds to nearest even, as torch does when casting fp32 to bf16.</summary>
    public static ushort SingleToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return 0x7FC0;
        }
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Copies a small tensor (norm weight, bias) to fp32; big matrices stay in their stored type.</summary>
    public static float[] ToSingleArray(TensorView tensor)
    {
        var result = new float[checked((int)tensor.ElementCount)];
        ReadRow(tensor, 0, result, asVector: true);
        return result;
    }

    /// <summary>Row <paramref name="row"/> of a 2-D tensor (or the whole of a 1-D one when asVector) widened to fp32.</summary>
    public static unsafe void ReadRow(TensorView tensor, int row, Span<float> destination, bool asVector = false)
    {
        int length = asVector ? checked((int)tensor.ElementCount) : tensor.Columns;
        long start = asVector ? 0 : (long)row * tensor.Columns;
        switch (tensor.DType)
        {
            case TensorDType.F32:
                new ReadOnlySpan<float>((float*)tensor.Data + start, length).CopyTo(destination);
                break;
            case TensorDType.BF16:
                BFloat16ToSingle(new ReadOnlySpan<ushort>((ushort*)tensor.Data + start, length), destination);
                break;
            case TensorDType.F16:
                HalfToSingle(new ReadOnlySpan<ushort>((ushort*)tensor.Data + start, length), destination);
                break;
        }
    }
}
