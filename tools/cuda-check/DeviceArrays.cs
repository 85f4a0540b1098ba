using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>Host arrays to and from device buffers, bf16 rounding like torch's .to(bfloat16), and error measures.</summary>
internal static unsafe class DeviceArrays
{
    /// <summary>Relative error a bf16 result may have against an fp32 reference (a few roundings of 2^-8).</summary>
    public const double Bf16Tolerance = 1e-2;

    /// <summary>Every byte of each buffer set to <paramref name="value"/> (0xFF: NaN bf16 and fp32, so rows a kernel leaves unwritten show).</summary>
    public static void Fill(nint stream, byte value, params DeviceBuffer[] buffers)
    {
        foreach (DeviceBuffer buffer in buffers)
        {
            CudaDriver.Check(CudaDriver.cuMemsetD8Async(buffer.Pointer, value, (nuint)buffer.Bytes, stream), "cuMemsetD8Async");
        }
    }

    public static float[] Random(Random random, int n, float scale = 1f)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = RoundBf16((float)(random.NextDouble() * 2 - 1) * scale);
        }
        return values;
    }

    public static float RoundBf16(float v) => BitConverter.UInt32BitsToSingle((uint)TensorConvert.SingleToBFloat16(v) << 16);

    public static ushort[] ToBf16(float[] values) => Array.ConvertAll(values, TensorConvert.SingleToBFloat16);

    public static DeviceBuffer UploadBf16(float[] values)
    {
        ushort[] bits = ToBf16(values);
        var buffer = new DeviceBuffer(Math.Max(2L * bits.Length, 2));
        fixed (ushort* p = bits)
        {
            CudaDriver.Check(CudaDriver.cuMemcpyHtoD(buffer.Pointer, p, (nuint)(2L * bits.Length)), "cuMemcpyHtoD");
        }
        return buffer;
    }

    public static DeviceBuffer Upload<T>(T[] values) where T : unmanaged
    {
        var buffer = new DeviceBuffer(Math.Max(sizeof(T) * (long)values.Length, 4));
        fixed (T* p = values)
        {
            CudaDriver.Check(CudaDriver.cuMemcpyHtoD(buffer.Pointer, p, (nuint)(sizeof(T) * (long)values.Length)), "cuMemcpyHtoD");
        }
        return buffer;
    }

    public static float[] DownloadBf16(ulong pointer, int n)
    {
        var bits = new ushort[n];
        fixed (ushort* p = bits)
        {
            CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
            CudaDriver.Check(CudaDriver.cuMemcpyDtoH(p, pointer, (nuint)(2L * n)), "cuMemcpyDtoH");
        }
        return Array.ConvertAll(bits, b => BitConverter.UInt32BitsToSingle((uint)b << 16));
    }

    public static T[] Download<T>(ulong pointer, int n) where T : unmanaged
    {
        var values = new T[n];
        fixed (T* p = values)
        {
            CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
            CudaDriver.Check(CudaDriver.cuMemcpyDtoH(p, pointer, (nuint)(sizeof(T) * (long)n)), "cuMemcpyDtoH");
        }
        return values;
    }

    /// <summary>(max |a - b|, ||a - b|| / ||b||); NaN anywhere makes both NaN.</summary>
    public static (double MaxAbs, double Relative) Errors(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double max = 0, diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = (double)actual[i] - expected[i];
            if (double.IsNaN(d))
            {
                return (double.NaN, double.NaN);
            }
            max = Math.Max(max, Math.Abs(d));
            diff += d * d;
            norm += (double)expected[i] * expected[i];
        }
        return (max, Math.Sqrt(diff / Math.Max(norm, 1e-30)));
    }
}
