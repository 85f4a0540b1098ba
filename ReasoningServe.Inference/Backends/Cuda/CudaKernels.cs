using System.Text;
using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>A loaded kernel: a function handle and the one way to launch it on a stream.</summary>
internal readonly unsafe struct CudaKernel(nint function, string name)
{
    public string Name { get; } = name;

    public void Launch(nint stream, uint gridX, uint gridY, uint blockX, void** arguments, uint sharedBytes = 0, uint gridZ = 1)
    {
        int result = CudaDriver.cuLaunchKernel(function, gridX, gridY, gridZ, blockX, 1, 1, sharedBytes, stream, arguments, null);
        if (result != CudaDriver.Success)
        {
            throw new CudaException($"launch of {Name} <<<({gridX}, {gridY}, {gridZ}), {blockX}>>> failed: {CudaDriver.Describe(result)}");
        }
    }
}

/// <summary>Every kernel of Backends/Cuda/Kernels, compiled (in parallel, cached) and loaded into the current context.</summary>
internal sealed unsafe class CudaKernels : IDisposable
{
    private readonly List<nint> _modules = [];

    public CudaKernels(CudaDevice device, string? cacheDirectory)
    {
        var compiler = new KernelCompiler(device.ComputeCapability, cacheDirectory);
        IReadOnlyList<string> files = KernelSources.KernelFiles;
        var cubins = new byte[files.Count][];
        Parallel.For(0, files.Count, i => cubins[i] = compiler.Compile(files[i]));
        var functions = new Dictionary<string, nint>();
        for (int i = 0; i < files.Count; i++)
        {
            nint module;
            fixed (byte* image = cubins[i])
            {
                CudaDriver.Check(CudaDriver.cuModuleLoadData(&module, image), $"cuModuleLoadData({files[i]})");
            }
            _modules.Add(module);
            functions[files[i]] = module;
        }
        Embedding = Get(functions, "embedding.cu", "embedding");
        RmsNorm = Get(functions, "rmsnorm.cu", "rmsnorm");
        AddRmsNorm = Get(functions, "rmsnorm.cu", "add_rmsnorm");
        QkNorm = Get(functions, "qk_norm.cu", "qk_norm");
        Rope = Get(functions, "rope.cu", "rope");
        KvWrite = Get(functions, "kv_write.cu", "kv_write");
        BiasAdd = Get(functions, "bias_add.cu", "bias_add");
        SiluMul = Get(functions, "silu_mul.cu", "silu_mul");
        PagedAttention = Get(functions, "paged_attention.cu", "paged_attention");
        GqaAttention = Get(functions, "gqa_attention.cu", "gqa_attention");
        DecodeAttention = Get(functions, "decode_attention.cu", "decode_attention");
        AttentionCombine = Get(functions, "attention_combine.cu", "attention_combine");
        QkvFinish = Get(functions, "qkv_finish.cu", "qkv_finish");
        Gemv = Get(functions, "gemv.cu", "gemv");
        GemvRmsNorm = Get(functions, "gemv.cu", "gemv_rmsnorm");
        GemvSilu = Get(functions, "gemv.cu", "gemv_silu");
        PrefillAttention = Get(functions, "prefill_attention.cu", "prefill_attention");
        ArgMax = Get(functions, "argmax.cu", "argmax");
        Sample = Get(functions, "sample.cu", "sample");
        FillUniform = Get(functions, "fill_uniform.cu", "fill_uniform");
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
    public CudaKernel AttentionCombine { get; }
    public CudaKernel QkvFinish { get; }
    public CudaKernel Gemv { get; }
    public CudaKernel GemvRmsNorm { get; }
    public CudaKernel GemvSilu { get; }
    public CudaKernel PrefillAttention { get; }
    public CudaKernel ArgMax { get; }
    public CudaKernel Sample { get; }
    public CudaKernel FillUniform { get; }

    private static CudaKernel Get(Dictionary<string, nint> modules, string file, string name)
    {
        if (!modules.TryGetValue(file, out nint module))
        {
            throw new InvalidOperationException($"kernel file {file} is not embedded.");
        }
        nint function;
        byte[] utf8 = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* text = utf8)
        {
            CudaDriver.Check(CudaDriver.cuModuleGetFunction(&function, module, text), $"cuModuleGetFunction({name})");
        }
        return new CudaKernel(function, name);
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
