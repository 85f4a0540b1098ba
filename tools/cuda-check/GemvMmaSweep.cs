using System.Text;
using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;
using static ReasoningServe.Tools.CudaCheck.DeviceArrays;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// gemv_mma.cu (tensor cores, 2 to 8 tokens) in blocks of 4, 8 or 16 warps and built with other UNROLL against cuBLAS on
/// the decode GEMMs of the Qwen2.5-1.5B and 7B shapes at 2, 4 and 8 tokens: weight bytes streamed per second (as in
/// <see cref="GemvSweep"/>, every launch on weights the previous ones did not touch) and each variant's worst error
/// against cuBLAS. "backend" is what Gemm launches (its warps, the default UNROLL) or cuBLAS where it keeps
/// the shape.
/// </summary>
internal static class GemvMmaSweep
{
    private static readonly (int Warps, int Unroll)[] Builds = [(16, 4), (8, 4), (4, 4), (16, 2), (4, 2), (16, 8)];

    public static void Run(CudaDevice device, CudaKernels kernels)
    {
        Report.Section("6b. gemv_mma.cu builds vs cuBLAS on decode GEMMs of 2-8 tokens (TB/s of weights read; w = warps per block, u = 32-wide k chunks per warp in flight)");
        nint stream = device.Stream;
        var compiler = new KernelCompiler(device.ComputeCapability, KernelCompiler.DefaultCacheDirectory());
        var modules = new List<nint>();
        try
        {
            var loaded = Builds.Select(b => (Build: b, Kernels: Load(compiler, b, modules))).ToArray();
            using DeviceBuffer pool = new(GemvSweep.PoolBytes), x = new(2L * 8 * 18944), y = new(4L * 8 * 152064), reference = new(4L * 8 * 152064);
            Gpu.FillUniform.Launch(kernels, stream, pool.Pointer, GemvSweep.PoolBytes / 2, seed: 7, scale: 0.05f, constant: 0f);
            Gpu.FillUniform.Launch(kernels, stream, x.Pointer, 8 * 18944, seed: 8, scale: 1f, constant: 0f);
            using var cublas = new Gpu.Gemm(stream);
            var worst = new double[loaded.Length];
            foreach ((string name, int n, int k, bool logits) in GemvSweep.Shapes)
            {
                long bytes = 2L * n * k;
                foreach (int tokens in new[] { 2, 4, 8 })
                {
                    var line = new StringBuilder($"  {name,-13} {n,6}x{k,-5} t={tokens,2}: cuBLAS {GemvSweep.Rate(stream, pool.Pointer, bytes, w => cublas.Run(x.Pointer, tokens, w, n, k, y.Pointer, n, logits)),5:F2}");
                    cublas.Run(x.Pointer, tokens, pool.Pointer, n, k, reference.Pointer, n, logits);
                    float[] expected = GemvSweep.Out(reference, tokens * n, logits);
                    for (int i = 0; i < loaded.Length; i++)
                    {
                        ((int warps, int unroll), CudaKernel kernel) = loaded[i];
                        void Launch(ulong w)
                        {
                            int asFloat = logits ? 1 : 0;
                            ulong xp = x.Pointer, yp = y.Pointer;
                            int t = tokens, rows = n, inner = k, ldy = n;
                            unsafe
                            {
                                void** args = stackalloc void*[] { &xp, &t, &w, &rows, &inner, &yp, &ldy, &asFloat };
                                kernel.Launch(stream, (uint)((n + 15) / 16), 1, (uint)(32 * warps), args);
                            }
                        }
                        Launch(pool.Pointer);
                        worst[i] = Math.Max(worst[i], Errors(GemvSweep.Out(y, tokens * n, logits), expected).Relative);
                        line.Append($" | w{warps}u{unroll} {GemvSweep.Rate(stream, pool.Pointer, bytes, Launch),5:F2}");
                    }
                    bool mma = n < Gpu.Gemm.WideManyRows && k < Gpu.Gemm.WideLongRow;
                    line.Append(mma ? $" | backend: w{Gpu.Gemm.MmaWarps}u4" : " | backend: cuBLAS");
                    Report.Line(line.ToString());
                }
            }
            for (int i = 0; i < loaded.Length; i++)
            {
                Report.Check($"gemv_mma w{loaded[i].Build.Warps}u{loaded[i].Build.Unroll} vs cuBLAS (every shape, 2-8 tokens)", worst[i] < Bf16Tolerance,
                    $"worst rel err {worst[i]:E2}");
            }
        }
        finally
        {
            foreach (nint module in modules)
            {
                CudaDriver.cuModuleUnload(module);
            }
        }
    }

    private static CudaKernel Load(KernelCompiler compiler, (int Warps, int Unroll) build, List<nint> modules)
    {
        byte[] cubin = compiler.Compile("gemv_mma.cu", [$"-DUNROLL={build.Unroll}"]);
        CudaDriver.Check(CudaKernels.LoadModule(cubin, out nint module), $"cuModuleLoadData(gemv_mma w{build.Warps}u{build.Unroll})");
        modules.Add(module);
        return CudaKernels.Function(module, "gemv_mma");
    }
}
