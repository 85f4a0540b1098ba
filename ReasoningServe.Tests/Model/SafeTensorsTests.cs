using System.Text;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Tests.Model;

public sealed class SafeTensorsTests
{
    private static float[] Values(int n, int seed)
    {
        var random = new Random(seed);
        var values = new float[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = (float)(random.NextDouble() * 8 - 4);
        }
        return values;
    }

    [Theory]
    [InlineData("BF16")]
    [InlineData("F16")]
    [InlineData("F32")]
    public void Reads_tensors_of_each_dtype_as_written(string dtypeName)
    {
        var dtype = Enum.Parse<TensorDType>(dtypeName);
        using var dir = new TempDirectory();
        float[] a = Values(6 * 37, 1), b = Values(5, 2);
        SafeTensorsWriter.Write(dir.File("model.safetensors"), [new("a", dtype, [6, 37], a), new("b", TensorDType.F32, [5], b)]);

        using SafeTensorsFile file = SafeTensorsFile.Open(dir.File("model.safetensors"));
        TensorView ta = file.Get("a");
        Assert.Equal(dtype, ta.DType);
        Assert.Equal([6, 37], ta.Shape);
        var row = new float[37];
        TensorConvert.ReadRow(ta, 4, row);
        for (int i = 0; i < 37; i++)
        {
            Assert.Equal(SafeTensorsWriter.Stored(a[4 * 37 + i], dtype), row[i]);
        }
        Assert.Equal(b, TensorConvert.ToSingleArray(file.Get("b")));
    }

    [Fact]
    public void Sharded_checkpoint_finds_each_tensor_in_its_shard()
    {
        using var dir = new TempDirectory();
        float[] a = Values(8, 3), b = Values(12, 4);
        SafeTensorsWriter.Write(dir.File("model-00001-of-00002.safetensors"), [new("a", TensorDType.BF16, [8], a)]);
        SafeTensorsWriter.Write(dir.File("model-00002-of-00002.safetensors"), [new("b", TensorDType.F16, [3, 4], b)]);
        File.WriteAllText(dir.File("model.safetensors.index.json"), """
            {"metadata": {"total_size": 40}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
            """);

        using SafeTensorsCheckpoint checkpoint = SafeTensorsCheckpoint.Open(dir.Path);
        Assert.Equal(2, checkpoint.Files.Count);
        Assert.Equal(Array.ConvertAll(b, v => SafeTensorsWriter.Stored(v, TensorDType.F16)), TensorConvert.ToSingleArray(checkpoint.Get("b")));
        Assert.Equal(Array.ConvertAll(a, v => SafeTensorsWriter.Stored(v, TensorDType.BF16)), TensorConvert.ToSingleArray(checkpoint.Get("a")));
        var e = Assert.Throws<ModelLoadException>(() => checkpoint.Get("c"));
        Assert.Contains("model.safetensors.index.json: tensor 'c' is missing", e.Message);
    }

    [Fact]
    public void Index_naming_a_tensor_its_shard_lacks_names_shard_and_tensor()
    {
        using var dir = new TempDirectory();
        SafeTensorsWriter.Write(dir.File("model-00001-of-00001.safetensors"), [new("a", TensorDType.F32, [2], [1, 2])]);
        File.WriteAllText(dir.File("model.safetensors.index.json"), """
            {"weight_map": {"a": "model-00001-of-00001.safetensors", "lm_head.weight": "model-00001-of-00001.safetensors"}}
            """);
        var e = Assert.Throws<ModelLoadException>(() => SafeTensorsCheckpoint.Open(dir.Path));
        Assert.Contains("model-00001-of-00001.safetensors: tensor 'lm_head.weight' is missing", e.Message);
    }

    [Fact]
    public void Truncated_file_is_reported_with_its_path()
    {
        using var dir = new TempDirectory();
        string path = dir.File("model.safetensors");
        SafeTensorsWriter.Write(path, [new("a", TensorDType.F32, [64], Values(64, 5))]);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^16]);
        var e = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated file", e.Message);
        Assert.Contains("'a'", e.Message);

        File.WriteAllBytes(path, bytes[..5]);
        e = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("truncated file", e.Message);

        File.WriteAllBytes(path, bytes[..40]);
        e = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("header length", e.Message);
    }

    [Fact]
    public void Bad_header_json_is_reported()
    {
        using var dir = new TempDirectory();
        string path = dir.File("model.safetensors");
        byte[] json = Encoding.UTF8.GetBytes("{\"a\": {\"dtype\": \"F32\", ");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)json.Length), .. json]);
        var e = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path));
        Assert.Contains(path + ": bad header", e.Message);
    }

    [Fact]
    public void Offsets_that_disagree_with_shape_or_dtype_are_rejected()
    {
        using var dir = new TempDirectory();
        string path = dir.File("model.safetensors");
        byte[] json = Encoding.UTF8.GetBytes("""{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}""");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)json.Length), .. json, .. new byte[8]]);
        var e = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("'a' spans 8 bytes but shape [3] of F32 needs 12", e.Message);

        json = Encoding.UTF8.GetBytes("""{"a": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}""");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)json.Length), .. json, .. new byte[8]]);
        e = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("unsupported dtype I64", e.Message);
    }
}
