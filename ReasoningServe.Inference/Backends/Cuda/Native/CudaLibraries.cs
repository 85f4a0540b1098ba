using System.Reflection;
using System.Runtime.InteropServices;

namespace ReasoningServe.Inference.Backends.Cuda.Native;

/// <summary>
/// Finds the CUDA libraries the bindings name by a short logical name ("cuda", "nvrtc", "cublas"). The driver is only
/// ever libcuda.so.1 (the toolkit's libcuda.so is a link-time stub that fails every call); NVRTC and cuBLAS are tried
/// newest first in LD_LIBRARY_PATH, CUDA_HOME and /usr/local/cuda*. A library that cannot be found fails with one
/// message naming every file and folder tried.
/// </summary>
internal static class CudaLibraries
{
    public const string Driver = "cuda";
    public const string Nvrtc = "nvrtc";
    public const string Cublas = "cublas";

    private static readonly Dictionary<string, string[]> FileNames = new()
    {
        [Driver] = ["libcuda.so.1"],
        // 11.2 (CUDA 11.8) can still target sm_90; it is what Debian packages, handy for compiling kernels without a GPU.
        [Nvrtc] = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"],
        [Cublas] = ["libcublas.so.13", "libcublas.so.12"],
    };

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, nint> Loaded = [];
    private static bool _registered;

    /// <summary>Routes this assembly's LibraryImports of the logical names through <see cref="Load"/>.</summary>
    public static void Register()
    {
        lock (Gate)
        {
            if (_registered)
            {
                return;
            }
            NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
            _registered = true;
        }
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        FileNames.ContainsKey(name) ? Load(name) : 0;

    /// <summary>Loads a logical library or throws <see cref="CudaException"/> saying what was missing and where it looked.</summary>
    public static nint Load(string name)
    {
        lock (Gate)
        {
            if (Loaded.TryGetValue(name, out nint handle))
            {
                return handle;
            }
            if (!TryLoad(name, out handle, out string error))
            {
                throw new CudaException(error);
            }
            Loaded[name] = handle;
            return handle;
        }
    }

    public static bool TryLoad(string name, out nint handle, out string error)
    {
        string[] files = FileNames[name];
        List<string> directories = SearchDirectories(Environment.GetEnvironmentVariable("LD_LIBRARY_PATH"),
            Environment.GetEnvironmentVariable("CUDA_HOME"), ExistingCudaRoots());
        foreach (string file in files)
        {
            foreach (string directory in directories)
            {
                string path = Path.Combine(directory, file);
                if (File.Exists(path) && NativeLibrary.TryLoad(path, out handle))
                {
                    error = "";
                    return true;
                }
            }
            // The system loader's own search (ldconfig cache: /usr/lib/x86_64-linux-gnu holds the driver).
            if (NativeLibrary.TryLoad(file, out handle))
            {
                error = "";
                return true;
            }
        }
        handle = 0;
        error = MissingMessage(name, files, directories);
        return false;
    }

    internal static string MissingMessage(string name, string[] files, IReadOnlyList<string> directories)
    {
        string what = name == Driver
            ? "the NVIDIA driver library (is an NVIDIA driver installed? the toolkit's stub libcuda.so is never used)"
            : $"the CUDA toolkit's {name} library (install the CUDA toolkit or set CUDA_HOME)";
        return $"CUDA unavailable: {what} was not found: tried {string.Join(", ", files)} in "
            + (directories.Count == 0 ? "no CUDA folders" : string.Join(", ", directories))
            + " and the system library path.";
    }

    /// <summary>LD_LIBRARY_PATH entries, then CUDA_HOME's and each /usr/local/cuda*'s lib folders, without duplicates.</summary>
    internal static List<string> SearchDirectories(string? ldLibraryPath, string? cudaHome, IEnumerable<string> cudaRoots)
    {
        var result = new List<string>();
        void Add(string directory)
        {
            if (directory.Length > 0 && !result.Contains(directory))
            {
                result.Add(directory);
            }
        }
        foreach (string entry in (ldLibraryPath ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            Add(entry);
        }
        var roots = new List<string>();
        if (!string.IsNullOrEmpty(cudaHome))
        {
            roots.Add(cudaHome);
        }
        roots.AddRange(cudaRoots);
        foreach (string root in roots)
        {
            Add(Path.Combine(root, "targets", "x86_64-linux", "lib"));
            Add(Path.Combine(root, "lib64"));
            Add(Path.Combine(root, "lib"));
        }
        Add("/usr/lib/x86_64-linux-gnu");
        Add("/usr/lib64");
        Add("/usr/lib");
        return result;
    }

    /// <summary>/usr/local/cuda, then /usr/local/cuda-X.Y newest first.</summary>
    internal static List<string> ExistingCudaRoots()
    {
        var roots = new List<string>();
        if (Directory.Exists("/usr/local/cuda"))
        {
            roots.Add("/usr/local/cuda");
        }
        if (Directory.Exists("/usr/local"))
        {
            var versioned = Directory.GetDirectories("/usr/local", "cuda-*");
            Array.Sort(versioned, (a, b) => CompareVersions(Path.GetFileName(b), Path.GetFileName(a)));
            roots.AddRange(versioned);
        }
        return roots;
    }

    private static int CompareVersions(string a, string b) =>
        Version.TryParse(a["cuda-".Length..], out Version? va) && Version.TryParse(b["cuda-".Length..], out Version? vb)
            ? va.CompareTo(vb)
            : string.CompareOrdinal(a, b);

    /// <summary>The CUDA include folder (for cuda_bf16.h): CUDA_HOME's, then /usr/local/cuda*'s, then /usr/include.</summary>
    public static string? FindIncludeDirectory()
    {
        var roots = new List<string>();
        if (Environment.GetEnvironmentVariable("CUDA_HOME") is { Length: > 0 } home)
        {
            roots.Add(home);
        }
        roots.AddRange(ExistingCudaRoots());
        foreach (string root in roots)
        {
            foreach (string candidate in new[] { Path.Combine(root, "include"), Path.Combine(root, "targets", "x86_64-linux", "include") })
            {
                if (File.Exists(Path.Combine(candidate, "cuda_bf16.h")))
                {
                    return candidate;
                }
            }
        }
        return File.Exists("/usr/include/cuda_bf16.h") ? "/usr/include" : null;
    }
}
