using System.Text;
using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// A loaded kernel: a function handle and the one way to launch it on a stream. With <paramref name="programmatic"/>
/// the launch lets it start while the kernel ahead of it finishes (programmatic dependent launch, sm_90 on): every
/// kernel of Backends/Cuda/Kernels waits for its predecessor itself (common.cuh's wait_for_previous_grid).
/// </summary>
internal readonly unsafe struct CudaKernel(nint function, string name, bool programmatic = false)
{
    public string Name { get; } = name;

    /// <summary>False for an optional kernel whose file did not compile or load (its feature stays off).</summary>
    public bool IsLoaded => function != 0;

    /// <summary>How many blocks of <paramref name="blockSize"/> threads fit on one multiprocessor at once (registers, shared memory).</summary>
    public int MaxActiveBlocksPerMultiprocessor(int blockSize, int dynamicSharedBytes = 0)
    {
        int blocks;
        CudaDriver.Check(CudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, function, blockSize, (nuint)dynamicSharedBytes),
            $"cuOccupancyMaxActiveBlocksPerMultiprocessor({Name})");
        return blocks;
    }

    /// <summary>Lets launches ask for more than 48 KB of dynamic shared memory (up to <see cref="CudaDevice.MaxSharedBytesPerBlock"/>).</summary>
    public void AllowDynamicSharedBytes(int bytes) =>
        CudaDriver.Check(CudaDriver.cuFuncSetAttribute(function, CudaDriver.FuncAttributeMaxDynamicSharedSizeBytes, bytes), $"cuFuncSetAttribute({Name})");

    public void Launch(nint stream, uint gridX, uint gridY, uint blockX, void** arguments, uint sharedBytes = 0, uint gridZ = 1)
    {
        if (function == 0)
        {
            throw new CudaException($"kernel {Name} is not available.");
        }
        int result;
        if (programmatic)
        {
            LaunchAttribute attribute = default;
            attribute.Id = CudaDriver.LaunchAttributeProgrammaticStreamSerialization;
            *(int*)attribute.Value = 1;
            LaunchConfig config = new()
            {
                GridX = gridX,
                GridY = gridY,
                GridZ = gridZ,
                BlockX = blockX,
                BlockY = 1,
                BlockZ = 1,
                SharedBytes = sharedBytes,
                Stream = stream,
                Attributes = &attribute,
                AttributeCount = 1,
            };
            result = CudaDriver.cuLaunchKernelEx(&config, function, arguments, null);
        }
        else
        {
            result = CudaDriver.cuLaunchKernel(function, gridX, gridY, gridZ, blockX, 1, 1, sharedBytes, stream, arguments, null);
        }
        if (result != CudaDriver.Success)
        {
            throw new CudaException($"launch of {Name} <<<({gridX}, {gridY}, {gridZ}), {blockX}>>> failed: {CudaDriver.Describe(result)}");
        }
    }
}

/// <summary>
/// Every kernel of Backends/Cuda/Kernels, compiled (in parallel, cached) and loaded into the current context. The kernels
/// of opt-in features (<see cref="OptionalFiles"/>) may fail to compile or load without taking the backend down: their
/// <see cref="CudaKernel.IsLoaded"/> is false, the feature stays off and <see cref="OptionalFailures"/> says why.
/// </summary>
internal sealed unsafe class CudaKernels : IDisposable
{
    public static readonly IReadOnlySet<string> OptionalFiles =
        new HashSet<string>(StringComparer.Ordinal) { "gemv.cu", "gemv_o_gate_up.cu", "gemv_mma.cu", "prefill_attention.cu", "decode_attention.cu", "sample.cu", "logit_adjust.cu" };

    /// <summary>Kernel files built per model (their shapes are macros): <see cref="Ops.DecodeStep"/> compiles and loads them itself.</summary>
    public static readonly IReadOnlySet<string> PerModelFiles = new HashSet<string>(StringComparer.Ordinal) { "decode_step.cu" };

    private readonly List<nint> _modules = [];
    private readonly Dictionary<string, nint> _moduleOfFile = [];
    private readonly Dictionary<string, string> _optionalFailures = [];

    public CudaKernels(CudaDevice device, string? cacheDirectory)
    {
        string pdl = Environment.GetEnvironmentVariable("RS_CUDA_PDL") ?? "1";
        // Captured graphs have programmatic edges from CUDA 12.3 on; with an older driver a capture could fail and lose the graphs.
        ProgrammaticLaunch = device.ComputeCapability >= 90 && device.DriverVersion >= 12030 && pdl is "1" or "exit";
        // RS_CUDA_DEFINES: more NVRTC options for every kernel, comma-separated (-DNAME builds of a kernel's experiments,
        // so that whole steps can be timed with them).
        string[] extra = Environment.GetEnvironmentVariable("RS_CUDA_DEFINES")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        string[] defines = [.. pdl == "exit" ? ["-DPDL_TRIGGER_AT_EXIT"] : Array.Empty<string>(), .. extra];
        Defines = defines;
        var compiler = new KernelCompiler(device.ComputeCapability, cacheDirectory);
        string[] files = [.. KernelSources.KernelFiles.Where(f => !PerModelFiles.Contains(f))];
        var cubins = new byte[files.Length][];
        var errors = new Exception?[files.Length];
        Parallel.For(0, files.Length, i =>
        {
            try
            {
                cubins[i] = compiler.Compile(files[i], defines);
            }
            catch (CudaException e) when (OptionalFiles.Contains(files[i]))
            {
                errors[i] = e;
            }
        });
        for (int i = 0; i < files.Length; i++)
        {
            if (errors[i] is { } error)
            {
                _optionalFailures[files[i]] = error.Message;
                continue;
            }
            int result = LoadModule(cubins[i], out nint module);
            if (result != CudaDriver.Success && OptionalFiles.Contains(files[i]))
            {
                _optionalFailures[files[i]] = $"cuModuleLoadData failed: {CudaDriver.Describe(result)}";
                continue;
            }
            CudaDriver.Check(result, $"cuModuleLoadData({files[i]})");
            _modules.Add(module);
            _moduleOfFile[files[i]] = module;
        }
        Embedding = Get(_moduleOfFile, "embedding.cu", "embedding");
        RmsNorm = Get(_moduleOfFile, "rmsnorm.cu", "rmsnorm");
        AddRmsNorm = Get(_moduleOfFile, "rmsnorm.cu", "add_rmsnorm");
        QkNorm = Get(_moduleOfFile, "qk_norm.cu", "qk_norm");
        Rope = Get(_moduleOfFile, "rope.cu", "rope");
        KvWrite = Get(_moduleOfFile, "kv_write.cu", "kv_write");
        BiasAdd = Get(_moduleOfFile, "bias_add.cu", "bias_add");
        SiluMul = Get(_moduleOfFile, "silu_mul.cu", "silu_mul");
        PagedAttention = Get(_moduleOfFile, "paged_attention.cu", "paged_attention");
        GqaAttention = Get(_moduleOfFile, "gqa_attention.cu", "gqa_attention");
        DecodeAttention = Get(_moduleOfFile, "decode_attention.cu", "decode_attention");
        DecodeAttentionEarly = Get(_moduleOfFile, "decode_attention.cu", "decode_attention_early");
        DecodeAttentionDeep = Get(_moduleOfFile, "decode_attention.cu", "decode_attention_deep");
        DecodeAttentionDeepEarly = Get(_moduleOfFile, "decode_attention.cu", "decode_attention_deep_early");
        DecodeAttentionDeep8 = Get(_moduleOfFile, "decode_attention.cu", "decode_attention_deep8");
        DecodeAttentionDeep8Early = Get(_moduleOfFile, "decode_attention.cu", "decode_attention_deep8_early");
        DeepDecodeAttention = AllowDynamicSharedBytes(device, Ops.DecodeAttention.DeepSharedBytes, DecodeAttentionDeep, DecodeAttentionDeepEarly,
            DecodeAttentionDeep8, DecodeAttentionDeep8Early);
        AttentionCombine = Get(_moduleOfFile, "attention_combine.cu", "attention_combine");
        QkvFinish = Get(_moduleOfFile, "qkv_finish.cu", "qkv_finish");
        Gemv = Get(_moduleOfFile, "gemv.cu", "gemv");
        GemvRmsNorm = Get(_moduleOfFile, "gemv.cu", "gemv_rmsnorm");
        GemvSilu = Get(_moduleOfFile, "gemv.cu", "gemv_silu");
        GemvWide = Get(_moduleOfFile, "gemv.cu", "gemv_wide");
        GemvWideSilu = Get(_moduleOfFile, "gemv.cu", "gemv_wide_silu");
        GemvWideQkv = Get(_moduleOfFile, "gemv.cu", "gemv_wide_qkv");
        GemvOGateUp = Get(_moduleOfFile, "gemv_o_gate_up.cu", "gemv_o_gate_up");
        GemvWideGateUp = Get(_moduleOfFile, "gemv.cu", "gemv_wide_gate_up");
        GemvMma = Get(_moduleOfFile, "gemv_mma.cu", "gemv_mma");
        GemvMmaGateUp = Get(_moduleOfFile, "gemv_mma.cu", "gemv_mma_gate_up");
        PrefillAttention = Get(_moduleOfFile, "prefill_attention.cu", "prefill_attention");
        PrefillAttentionPipelined = Get(_moduleOfFile, "prefill_attention.cu", "prefill_attention_pipelined");
        PipelinedPrefillAttention = AllowDynamicSharedBytes(device, Ops.PrefillAttention.PipelinedSharedBytes(128), PrefillAttentionPipelined);
        ArgMax = Get(_moduleOfFile, "argmax.cu", "argmax");
        ArgMaxSlices = Get(_moduleOfFile, "argmax.cu", "argmax_slices");
        ArgMaxMerge = Get(_moduleOfFile, "argmax.cu", "argmax_merge");
        Sample = Get(_moduleOfFile, "sample.cu", "sample");
        SampleSlices = Get(_moduleOfFile, "sample.cu", "sample_slices");
        SampleMerge = Get(_moduleOfFile, "sample.cu", "sample_merge");
        LogitAdjust = Get(_moduleOfFile, "logit_adjust.cu", "logit_adjust");
        FillUniform = Get(_moduleOfFile, "fill_uniform.cu", "fill_uniform");
    }

    public CudaKernel Embedding { get; }
    public CudaKernel RmsNorm { get; }
    public CudaKernel AddRmsNorm { get; }
    public CudaKernel QkNorm { get; }
    public CudaKernel Rope { get; }
    public CudaKernel KvWrite { get; }
    public CudaKernel BiasAdd { get; }
    public CudaKernel SiluMul { get; }
    public CudaKernel PagedAttention { get; }
    public CudaKernel GqaAttention { get; }
    public CudaKernel DecodeAttention { get; }
    public CudaKernel DecodeAttentionEarly { get; }
    /// <summary>decode_attention(_early) with deeper cp.async rings in 96 KB of dynamic shared memory (long contexts).</summary>
    public CudaKernel DecodeAttentionDeep { get; }
    public CudaKernel DecodeAttentionDeepEarly { get; }
    /// <summary>The deep kernels with 8 warps a block, for deep launches of one block an SM (<see cref="Ops.DecodeAttention.UsesDeep8"/>).</summary>
    public CudaKernel DecodeAttentionDeep8 { get; }
    public CudaKernel DecodeAttentionDeep8Early { get; }
    /// <summary>Whether the device gives a block the deep kernels' shared memory (they are then set up to ask for it).</summary>
    public bool DeepDecodeAttention { get; }
    public CudaKernel AttentionCombine { get; }
    public CudaKernel QkvFinish { get; }
    public CudaKernel Gemv { get; }
    public CudaKernel GemvRmsNorm { get; }
    public CudaKernel GemvSilu { get; }
    public CudaKernel GemvWide { get; }
    public CudaKernel GemvWideSilu { get; }
    public CudaKernel GemvWideQkv { get; }
    public CudaKernel GemvOGateUp { get; }
    public CudaKernel GemvWideGateUp { get; }
    /// <summary>gemv_mma.cu: 2 to 8 tokens on tensor cores.</summary>
    public CudaKernel GemvMma { get; }
    /// <summary>gemv_mma.cu's gate_up projection of 2 to 8 tokens with the SiLU·mul in its epilogue.</summary>
    public CudaKernel GemvMmaGateUp { get; }
    public CudaKernel PrefillAttention { get; }
    /// <summary>prefill_attention with two query heads a block and a cp.async ring of key tiles in dynamic shared memory.</summary>
    public CudaKernel PrefillAttentionPipelined { get; }
    /// <summary>Whether the device gives a block prefill_attention_pipelined's shared memory (it is then set up to ask for it).</summary>
    public bool PipelinedPrefillAttention { get; }
    public CudaKernel ArgMax { get; }
    public CudaKernel ArgMaxSlices { get; }
    public CudaKernel ArgMaxMerge { get; }
    public CudaKernel Sample { get; }
    public CudaKernel SampleSlices { get; }
    public CudaKernel SampleMerge { get; }
    public CudaKernel LogitAdjust { get; }
    public CudaKernel FillUniform { get; }

    /// <summary>
    /// Whether kernels launch with programmatic dependent launch (Hopper and later): by default a kernel's successor is
    /// scheduled once all its blocks run (RS_CUDA_PDL=1), so gemv.cu's wide blocks request their first weights while the
    /// kernels ahead of them finish; RS_CUDA_PDL=exit schedules it only as its blocks exit, RS_CUDA_PDL=0 turns it off.
    /// On the H200, with the wide layout for long rows and few rows, the early trigger took a 7B single-stream step from
    /// 3.95-4.01 to 3.89-3.92 ms and a 1.5B one from 1.43-1.44 to 1.35-1.46 ms (two runs); before the wide layout it
    /// had cost the 1.5B step 0.14 ms, and without it PDL saved 0.11 ms at 7B. Only one-token steps trigger early
    /// (common.cuh): in a 7B step of 64 sequences at 1024 tokens the early trigger had cost 3-5%.
    /// </summary>
    public bool ProgrammaticLaunch { get; }

    /// <summary>The NVRTC defines every kernel file was built with (PDL's, then RS_CUDA_DEFINES'), such as a timing build's.</summary>
    public IReadOnlyList<string> Defines { get; }

    /// <summary>Optional kernel files that did not compile or load, with the reason (their features stay off).</summary>
    public IReadOnlyDictionary<string, string> OptionalFailures => _optionalFailures;

    private CudaKernel Get(Dictionary<string, nint> modules, string file, string name)
    {
        if (!modules.TryGetValue(file, out nint module))
        {
            if (_optionalFailures.TryGetValue(file, out string? why))
            {
                return new CudaKernel(0, $"{name} ({file}: {why})");
            }
            throw new InvalidOperationException($"kernel file {file} is not embedded.");
        }
        return Function(module, name, ProgrammaticLaunch);
    }

    /// <summary>
    /// Lets <paramref name="kernels"/> ask for <paramref name="bytes"/> of dynamic shared memory, where the device gives a
    /// block that much and the first of them loaded (they come from one file); whether they may.
    /// </summary>
    private static bool AllowDynamicSharedBytes(CudaDevice device, int bytes, params CudaKernel[] kernels)
    {
        if (device.MaxSharedBytesPerBlock < bytes || !kernels[0].IsLoaded)
        {
            return false;
        }
        foreach (CudaKernel kernel in kernels)
        {
            kernel.AllowDynamicSharedBytes(bytes);
        }
        return true;
    }

    /// <summary>
    /// The device address and size of a <c>__device__</c> variable of a loaded kernel file, or null where the file or the
    /// variable is not there (a timing build's buffers, such as gemv.cu's GEMV_TIMELINE, exist only in that build).
    /// </summary>
    internal (ulong Pointer, long Bytes)? Global(string file, string name)
    {
        if (!_moduleOfFile.TryGetValue(file, out nint module))
        {
            return null;
        }
        ulong pointer;
        nuint bytes;
        byte[] utf8 = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* text = utf8)
        {
            return CudaDriver.cuModuleGetGlobal(&pointer, &bytes, module, text) == CudaDriver.Success ? (pointer, (long)bytes) : null;
        }
    }

    /// <summary>cuModuleLoadData on a CUBIN, returning the driver's result (whether a failure is fatal is the caller's call).</summary>
    internal static int LoadModule(byte[] cubin, out nint module)
    {
        nint loaded;
        int result;
        fixed (byte* image = cubin)
        {
            result = CudaDriver.cuModuleLoadData(&loaded, image);
        }
        module = loaded;
        return result;
    }

    /// <summary>The kernel of a loaded module with this extern "C" name.</summary>
    internal static CudaKernel Function(nint module, string name, bool programmatic = false)
    {
        nint function;
        byte[] utf8 = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* text = utf8)
        {
            CudaDriver.Check(CudaDriver.cuModuleGetFunction(&function, module, text), $"cuModuleGetFunction({name})");
        }
        return new CudaKernel(function, name, programmatic);
    }

    public void Dispose()
    {
        foreach (nint module in _modules)
        {
            CudaDriver.cuModuleUnload(module);
        }
        _modules.Clear();
    }
}
