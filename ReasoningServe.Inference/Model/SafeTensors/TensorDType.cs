namespace ReasoningServe.Inference.Model.SafeTensors;

/// <summary>Element types we accept in a checkpoint; the names are safetensors' header spellings.</summary>
internal enum TensorDType
{
    BF16,
    F16,
    F32,
}

internal static class TensorDTypes
{
    public static int SizeOf(this TensorDType dtype) => dtype == TensorDType.F32 ? 4 : 2;

    public static bool TryParse(string name, out TensorDType dtype)
    {
        switch (name)
        {
            case "BF16": dtype = TensorDType.BF16; return true;
            case "F16": dtype = TensorDType.F16; return true;
            case "F32": dtype = TensorDType.F32; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>Maps config.json's torch_dtype ("bfloat16", "float16", "float32") to a storage type.</summary>
    public static TensorDType FromTorchDtype(string torchDtype) => torchDtype switch
    {
        "float16" or "half" => TensorDType.F16,
        "float32" or "float" => TensorDType.F32,
        _ => TensorDType.BF16,
    };
}
