namespace ReasoningServe.Inference.Model.SafeTensors;

/// <summary>
/// A tensor as it lies in memory (a mapped safetensors file or a native dummy buffer): row-major, never copied. The
/// owner of the memory (<see cref="SafeTensorsCheckpoint"/> or <see cref="DummyWeights"/>) outlives every view.
/// </summary>
internal sealed unsafe class TensorView(string name, TensorDType dtype, int[] shape, nint data)
{
    public string Name { get; } = name;
    public TensorDType DType { get; } = dtype;
    public int[] Shape { get; } = shape;
    public nint Data { get; } = data;

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (int d in Shape)
            {
                n *= d;
            }
            return n;
        }
    }

    public long ByteLength => ElementCount * DType.SizeOf();

    /// <summary>Rows of a 2-D tensor ([out, in] for a linear layer); the length of a 1-D one.</summary>
    public int Rows => Shape[0];

    public int Columns => Shape.Length > 1 ? Shape[1] : 1;

    /// <summary>Raw 16-bit storage of one row (BF16 or F16 tensors).</summary>
    public ReadOnlySpan<ushort> Row16(int row) => new((ushort*)Data + (long)row * Columns, Columns);

    public ReadOnlySpan<float> Row32(int row) => new((float*)Data + (long)row * Columns, Columns);

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
