using System.Text;
using System.Text.Json;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Tests.Model;

/// <summary>Writes .safetensors files the way the format specifies, so the reader is tested against real files.</summary>
internal static class SafeTensorsWriter
{
    public sealed record Tensor(string Name, TensorDType DType, int[] Shape, float[] Values);

    public static void Write(string path, IEnumerable<Tensor> tensors)
    {
        var header = new Dictionary<string, object>();
        var data = new MemoryStream();
        foreach (Tensor tensor in tensors)
        {
            long begin = data.Length;
            foreach (float value in tensor.Values)
            {
                switch (tensor.DType)
                {
                    case TensorDType.F32: data.Write(BitConverter.GetBytes(value)); break;
                    case TensorDType.F16: data.Write(BitConverter.GetBytes((Half)value)); break;
                    case TensorDType.BF16: data.Write(BitConverter.GetBytes(TensorConvert.SingleToBFloat16(value))); break;
                }
            }
            header[tensor.Name] = new { dtype = tensor.DType.ToString(), shape = tensor.Shape, data_offsets = new[] { begin, data.Length } };
        }
        header["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" };
        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;
        using FileStream file = File.Create(path);
        file.Write(BitConverter.GetBytes((ulong)padded));
        file.Write(json);
        for (int i = json.Length; i < padded; i++)
        {
            file.WriteByte((byte)' ');
        }
        data.Position = 0;
        data.CopyTo(file);
    }

    /// <summary>What a value becomes after a round trip through the storage type.</summary>
    public static float Stored(float value, TensorDType dtype) => dtype switch
    {
        TensorDType.BF16 => BitConverter.UInt32BitsToSingle((uint)TensorConvert.SingleToBFloat16(value) << 16),
        TensorDType.F16 => (float)(Half)value,
        _ => value,
    };
}
