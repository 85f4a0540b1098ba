using System.Text;
using ReasoningServe.Inference.Backends.Cuda;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;
using static ReasoningServe.Tools.CudaCheck.DeviceArrays;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// gemv_mma.cu (tensor cores, 2 to 8 tokens) in blocks of 4, 8 or 16 warps and built with other UNROLL against cuBLAS on
/// the decode GEMMs of the Qwen2.5-1.5B and 7B shapes at 2, 4 and 8 tokens, on <see cref="GemvSweep"/>'s data: weight
/// bytes streamed per second (every launch on weights the previous ones did not touch) and each variant's worst error
/// against cuBLAS. "backend" is what Gemm launches (its warps, the default UNROLL) or cuBLAS where it keeps the shape.
/// </summary>
internal static class GemvMmaSweep
{
    private static readonly (int Warps, int Unroll)[] Builds = [(16, 4), (8, 4), (4, 4), (16, 2), (4, 2), (16, 8)];

    public static void Run(CudaDevice device, CudaKernels kernels)
    {
        Report.Section("6b. gemv_mma.cu builds vs cuBLAS on decode GEMMs of 2-8 tokens (TB/s of weights read; w = warps per block, u = 32-wide k chunks per warp in flight)");
        nint stream = device.Stream;
        using var builds = new KernelBuilds(device);
        var loaded = Builds.Select(b => (Build: b, Kernel: builds.Load("gemv_mma.cu", [$"-DUNROLL={b.Unroll}"], "gemv_mma"))).ToArray();
        using var data = new GemvSweep.SweepData(kernels, stream);
        using var backend = new Gpu.Gemm(stream, kernels, device.MultiprocessorCount);
        var worst = new double[loaded.Length];
        int waveBlocks = Gpu.Gemm.MmaWaveBlocks(kernels.GemvMma, Gpu.Gemm.MmaWarps, device.MultiprocessorCount);
        int gateUpWaveBlocks = Gpu.Gemm.MmaWaveBlocks(kernels.GemvMmaGateUp, Gpu.Gemm.MmaWarps, device.MultiprocessorCount);
        foreach ((string name, int n, int k, bool logits) in GemvSweep.Shapes)
        {
            long bytes = 2L * n * k;
            foreach (int tokens in new[] { 2, 4, 8 })
            {
                (double cublasRate, float[] expected) = data.Cublas(tokens, n, k, logits);
                var line = new StringBuilder($"  {name,-13} {n,6}x{k,-5} t={tokens,2}: cuBLAS {cublasRate,5:F2}");
                for (int i = 0; i < loaded.Length; i++)
                {
                    ((int warps, int unroll), CudaKernel kernel) = loaded[i];
                    void Launch(ulong w) => Gpu.Gemm.LaunchMma(kernel, stream, warps, data.X.Pointer, tokens, w, n, k, data.Y.Pointer, n, logits);
                    Launch(data.Pool.Pointer);
                    worst[i] = Math.Max(worst[i], Errors(data.Output(tokens * n, logits), expected).Relative);
                    line.Append($" | w{warps}u{unroll} {data.Rate(bytes, Launch),5:F2}");
                }
                // the backend's build on a one-wave grid (RS_CUDA_MMA_WAVE=1)
                void LaunchWave(ulong w) => Gpu.Gemm.LaunchMma(kernels.GemvMma, stream, Gpu.Gemm.MmaWarps, data.X.Pointer, tokens, w, n, k, data.Y.Pointer, n,
                    logits, waveBlocks);
                line.Append($" | wave {data.Rate(bytes, LaunchWave),5:F2}");
                if (name.EndsWith("gate_up", StringComparison.Ordinal))
                {
                    // gemv_mma_gate_up (RS_CUDA_MMA_MLP=1): the same weights with silu_mul in the epilogue, in the backend's build
                    void LaunchGateUp(ulong w, int blocks) => Gpu.Gemm.LaunchMmaGateUp(kernels.GemvMmaGateUp, stream, Gpu.Gemm.MmaWarps, data.X.Pointer, tokens,
                        w, n / 2, k, data.Y.Pointer, blocks);
                    line.Append($" | gate_up+silu {data.Rate(bytes, w => LaunchGateUp(w, 0)),5:F2}, wave {data.Rate(bytes, w => LaunchGateUp(w, gateUpWaveBlocks)),5:F2}");
                }
                line.Append(backend.UsesMma(tokens, k, n) ? $" | backend: w{Gpu.Gemm.MmaWarps}u4" : " | backend: cuBLAS");
                Report.Line(line.ToString());
            }
        }
        for (int i = 0; i < loaded.Length; i++)
        {
            Report.Check($"gemv_mma w{loaded[i].Build.Warps}u{loaded[i].Build.Unroll} vs cuBLAS (every shape, 2-8 tokens)", worst[i] < Bf16Tolerance,
                $"worst rel err {worst[i]:E2}");
        }
    }
}
