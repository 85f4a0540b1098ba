using System.Reflection;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// The .cu files under Backends/Cuda/Kernels, embedded in the assembly as "cuda/NAME" (one op per file), and the shared
/// headers (.cuh: common.cuh for every kernel, tensor_core.cuh for the mma kernels) that NVRTC receives as in-memory
/// includes.
/// </summary>
internal static class KernelSources
{
    private const string Prefix = "cuda/";
    public const string CommonHeader = "common.cuh";

    /// <summary>Every kernel file name (NAME.cu), sorted.</summary>
    public static IReadOnlyList<string> KernelFiles { get; } = ListFiles(".cu");

    /// <summary>Every shared header (NAME.cuh), sorted.</summary>
    public static IReadOnlyList<string> HeaderFiles { get; } = ListFiles(".cuh");

    public static string Read(string fileName)
    {
        using Stream stream = Assembly.GetManifestResourceStream(Prefix + fileName)
            ?? throw new InvalidOperationException($"kernel source {fileName} is not embedded in {Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static Assembly Assembly => typeof(KernelSources).Assembly;

    private static List<string> ListFiles(string extension)
    {
        var files = new List<string>();
        foreach (string name in Assembly.GetManifestResourceNames())
        {
            if (name.StartsWith(Prefix, StringComparison.Ordinal) && name.EndsWith(extension, StringComparison.Ordinal))
            {
                files.Add(name[Prefix.Length..]);
            }
        }
        files.Sort(StringComparer.Ordinal);
        return files;
    }
}
