namespace ReasoningServe.Inference.Model;

/// <summary>How weights are obtained, named like vLLM's <c>--load-format</c>.</summary>
internal enum LoadFormat
{
    /// <summary>safetensors from the model folder (the only real format we read).</summary>
    Auto,
    SafeTensors,
    /// <summary>Random weights shaped by config.json alone; for benchmarks and plumbing tests without a checkpoint.</summary>
    Dummy,
}

internal static class LoadFormatParser
{
    public static LoadFormat Parse(string value) => value.ToLowerInvariant() switch
    {
        "auto" => LoadFormat.Auto,
        "safetensors" => LoadFormat.SafeTensors,
        "dummy" => LoadFormat.Dummy,
        _ => throw new ArgumentException($"--load-format '{value}' is not supported; use auto, safetensors or dummy."),
    };
}
