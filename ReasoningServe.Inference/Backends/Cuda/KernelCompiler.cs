using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// Compiles a kernel source to CUBIN for one compute capability with NVRTC (CUBIN, not PTX: PTX would cost ~100 ms of
/// driver JIT per module at every start). CUBINs are cached on disk under a name made of the kernel, the
/// architecture, the NVRTC version and a hash of the source, the shared headers and the options, so a changed
/// kernel, GPU or compiler never reuses a stale binary.
/// </summary>
internal sealed unsafe class KernelCompiler(int computeCapability, string? cacheDirectory)
{
    private static readonly Lazy<(int Major, int Minor)> NvrtcVersion = new(() =>
    {
        CudaLibraries.Register();
        int major, minor;
        Nvrtc.Check(Nvrtc.nvrtcVersion(&major, &minor), "nvrtcVersion");
        return (major, minor);
    });

    public int ComputeCapability { get; } = computeCapability;

    /// <summary>$RS_CUBIN_CACHE, else $XDG_CACHE_HOME/reasoningserve/cubin, else ~/.cache/reasoningserve/cubin.</summary>
    public static string DefaultCacheDirectory()
    {
        if (Environment.GetEnvironmentVariable("RS_CUBIN_CACHE") is { Length: > 0 } explicitDirectory)
        {
            return explicitDirectory;
        }
        string root = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "reasoningserve", "cubin");
    }

    public string[] Options(string includeDirectory) =>
        [$"--gpu-architecture=sm_{ComputeCapability}", $"--include-path={includeDirectory}", "-std=c++17"];

    /// <summary>File name of a cached CUBIN: kernel, arch and NVRTC version readable, contents hashed.</summary>
    public static string CacheKey(string fileName, string source, string header, IEnumerable<string> options, int computeCapability, (int Major, int Minor) nvrtc)
    {
        var text = new StringBuilder().Append(source).Append('\0').Append(header);
        foreach (string option in options)
        {
            text.Append('\0').Append(option);
        }
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
        return $"{Path.GetFileNameWithoutExtension(fileName)}-sm_{computeCapability}-nvrtc{nvrtc.Major}.{nvrtc.Minor}-{hash}.cubin";
    }

    /// <summary>
    /// The CUBIN of <paramref name="fileName"/> (an embedded kernel), from the cache or freshly compiled; <paramref name="defines"/>
    /// (-DNAME=VALUE) build another variant of a kernel that reads its parameters from macros (tools/cuda-check's sweeps).
    /// </summary>
    public byte[] Compile(string fileName, IReadOnlyList<string>? defines = null)
    {
        string source = KernelSources.Read(fileName);
        IReadOnlyList<string> headerNames = KernelSources.HeaderFiles;
        string[] headers = [.. headerNames.Select(KernelSources.Read)];
        // Every header (name and text) is part of the key: a kernel may include any of them.
        string header = string.Concat(headerNames.Select((name, i) => name + "\0" + headers[i] + "\0"));
        string includeDirectory = CudaLibraries.FindIncludeDirectory()
            ?? throw new CudaException("CUDA unavailable: cuda_bf16.h was not found (set CUDA_HOME to the CUDA toolkit; tried /usr/local/cuda*/include).");
        string[] options = [.. Options(includeDirectory), .. defines ?? []];
        // The include path differs between machines but not the code it names: keep it out of the key.
        string key = CacheKey(fileName, source, header, [options[0], .. options[2..]], ComputeCapability, NvrtcVersion.Value);
        string? cachePath = cacheDirectory is null ? null : Path.Combine(cacheDirectory, key);
        if (cachePath is not null && File.Exists(cachePath))
        {
            return File.ReadAllBytes(cachePath);
        }
        byte[] cubin = CompileWithNvrtc(fileName, source, headerNames, headers, options);
        if (cachePath is not null)
        {
            try
            {
                Directory.CreateDirectory(cacheDirectory!);
                string temporary = cachePath + "." + Environment.ProcessId + ".tmp";
                File.WriteAllBytes(temporary, cubin);
                File.Move(temporary, cachePath, overwrite: true);
            }
            catch (IOException)
            {
                // A read-only or full cache only costs the next start a compile.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return cubin;
    }

    private static byte[] CompileWithNvrtc(string fileName, string source, IReadOnlyList<string> headerNames, string[] headers, string[] options)
    {
        nint program;
        nint sourceText = Marshal.StringToCoTaskMemUTF8(source), nameText = Marshal.StringToCoTaskMemUTF8(fileName);
        var headerTexts = new nint[headers.Length];
        var headerNameTexts = new nint[headers.Length];
        var optionTexts = new nint[options.Length];
        try
        {
            byte** headerPointers = stackalloc byte*[headers.Length];
            byte** includeNames = stackalloc byte*[headers.Length];
            for (int i = 0; i < headers.Length; i++)
            {
                headerTexts[i] = Marshal.StringToCoTaskMemUTF8(headers[i]);
                headerNameTexts[i] = Marshal.StringToCoTaskMemUTF8(headerNames[i]);
                headerPointers[i] = (byte*)headerTexts[i];
                includeNames[i] = (byte*)headerNameTexts[i];
            }
            Nvrtc.Check(Nvrtc.nvrtcCreateProgram(&program, (byte*)sourceText, (byte*)nameText, headers.Length, headerPointers, includeNames), "nvrtcCreateProgram");
            try
            {
                byte** optionPointers = stackalloc byte*[options.Length];
                for (int i = 0; i < options.Length; i++)
                {
                    optionTexts[i] = Marshal.StringToCoTaskMemUTF8(options[i]);
                    optionPointers[i] = (byte*)optionTexts[i];
                }
                int result = Nvrtc.nvrtcCompileProgram(program, options.Length, optionPointers);
                if (result != Nvrtc.Success)
                {
                    throw new CudaException($"NVRTC could not compile {fileName} ({string.Join(' ', options)}):\n{Log(program)}");
                }
                nuint size;
                Nvrtc.Check(Nvrtc.nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize");
                var cubin = new byte[(int)size];
                fixed (byte* destination = cubin)
                {
                    Nvrtc.Check(Nvrtc.nvrtcGetCUBIN(program, destination), "nvrtcGetCUBIN");
                }
                return cubin;
            }
            finally
            {
                Nvrtc.nvrtcDestroyProgram(&program);
            }
        }
        finally
        {
            foreach (nint p in (nint[])[sourceText, nameText, .. headerTexts, .. headerNameTexts, .. optionTexts])
            {
                Marshal.FreeCoTaskMem(p);
            }
        }
    }

    private static string Log(nint program)
    {
        nuint size;
        if (Nvrtc.nvrtcGetProgramLogSize(program, &size) != Nvrtc.Success || size <= 1)
        {
            return "(no log)";
        }
        var log = new byte[(int)size];
        fixed (byte* pointer = log)
        {
            Nvrtc.nvrtcGetProgramLog(program, pointer);
        }
        return Encoding.UTF8.GetString(log, 0, log.Length - 1);
    }
}
