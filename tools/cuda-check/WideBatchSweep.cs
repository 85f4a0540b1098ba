using System.Text;
using ReasoningServe.Inference.Backends.Cuda;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;
using static ReasoningServe.Tools.CudaCheck.DeviceArrays;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// gemv.cu's gemv_wide_batch built for other token counts (WIDE_BATCH), chunks per thread (CPT) and rows at a time
/// (WIDE_BATCH_ROWS) against cuBLAS, the backend's gemv_mma on its one-wave grid, and the one-token gemv_wide, on the
/// decode GEMMs of the 1.5B and 7B shapes at 2 and 4 tokens, on <see cref="GemvSweep"/>'s data: weight bytes streamed per
/// second (launched alone, each on weights the previous ones did not touch), each build's registers and spilled bytes, and
/// its worst error against cuBLAS.
/// </summary>
internal static class WideBatchSweep
{
    private sealed record Build(int Tokens, int ChunksPerThread, int Rows)
    {
        /// <summary>b = most tokens, c = chunks per thread, r = rows at a time.</summary>
        public string Label => $"b{Tokens}c{ChunksPerThread}r{Rows}";

        public string[] Defines => [$"-DWIDE_BATCH={Tokens}", $"-DCPT={ChunksPerThread}", $"-DWIDE_BATCH_ROWS={Rows}"];

        public bool Fits(int k) => Gpu.Gemm.WideThreads(k, ChunksPerThread) <= Gpu.Gemm.WideMaxThreads;
    }

    // The backend's build first; then other splits of a thread's weight loads in flight between chunks and rows, and builds
    // for 4 tokens (where their shared memory fits).
    private static readonly Build[] Builds =
    [
        new(2, 5, 2), new(2, 5, 3), new(2, 4, 2), new(2, 3, 3), new(2, 3, 2), new(4, 5, 2), new(4, 3, 2),
    ];

    public static void Run(CudaDevice device, CudaKernels kernels)
    {
        Report.Section("6c. gemv_wide_batch builds vs cuBLAS, gemv_mma and one-token gemv_wide on decode GEMMs of 2 and 4 tokens (TB/s of weights read)");
        nint stream = device.Stream;
        using var builds = new KernelBuilds(device);
        var loaded = Builds.Select(b => (Build: b, Kernel: builds.Load("gemv.cu", b.Defines, "gemv_wide_batch"))).ToArray();
        foreach ((Build b, CudaKernel kernel) in loaded)
        {
            kernel.AllowDynamicSharedBytes(Math.Min(b.Tokens * b.ChunksPerThread * Gpu.Gemm.WideMaxThreads * 32, device.MaxSharedBytesPerBlock - 8192));
            (int registers, int local) = kernel.Resources();
            Report.Line($"  {b.Label}: {registers} registers, {local} bytes spilled per thread");
        }
        using var data = new GemvSweep.SweepData(kernels, stream);
        int mmaWave = Gpu.Gemm.MmaWaveBlocks(kernels.GemvMma, Gpu.Gemm.MmaWarps, device.MultiprocessorCount);
        var worst = new double[loaded.Length];
        foreach ((string name, int n, int k, bool logits) in GemvSweep.Shapes)
        {
            long bytes = 2L * n * k;
            (uint, uint) oneTokenGrid = Gpu.Gemm.WideGrid(kernels.GemvWide, device.MultiprocessorCount, Gpu.Gemm.WideChunksPerThread, n, k, balanced: true);
            double oneToken = data.Rate(bytes, w => Gpu.Gemm.LaunchWide(kernels.GemvWide, stream, oneTokenGrid, data.X.Pointer, w, n, k, data.Y.Pointer, logits));
            foreach (int tokens in new[] { 2, 4 })
            {
                (double cublasRate, float[] expected) = data.Cublas(tokens, n, k, logits);
                double mma = data.Rate(bytes, w => Gpu.Gemm.LaunchMma(kernels.GemvMma, stream, Gpu.Gemm.MmaWarps, data.X.Pointer, tokens, w, n, k,
                    data.Y.Pointer, n, logits, mmaWave));
                var line = new StringBuilder($"  {name,-13} {n,6}x{k,-5} t={tokens}: cuBLAS {cublasRate,5:F2} | mma {mma,5:F2} | one token {oneToken,5:F2}");
                for (int i = 0; i < loaded.Length; i++)
                {
                    (Build b, CudaKernel kernel) = loaded[i];
                    if (tokens > b.Tokens || !b.Fits(k))
                    {
                        continue;
                    }
                    int threads = Gpu.Gemm.WideThreads(k, b.ChunksPerThread), sharedBytes = tokens * b.ChunksPerThread * threads * 32;
                    if (sharedBytes > device.MaxSharedBytesPerBlock - 8192)
                    {
                        continue;
                    }
                    (uint Blocks, uint Threads) grid = Gpu.Gemm.WideGrid(kernel, device.MultiprocessorCount, b.ChunksPerThread, n, k, balanced: true,
                        sharedBytes: sharedBytes);
                    void Launch(ulong w) => LaunchBatch(kernel, stream, grid, sharedBytes, data.X.Pointer, tokens, w, n, k, data.Y.Pointer, logits);
                    Launch(data.Pool.Pointer);
                    worst[i] = Math.Max(worst[i], Errors(data.Output(tokens * n, logits), expected).Relative);
                    line.Append($" | {b.Label} {data.Rate(bytes, Launch),5:F2}");
                }
                Report.Line(line.ToString());
            }
        }
        for (int i = 0; i < loaded.Length; i++)
        {
            Report.Check($"gemv_wide_batch {loaded[i].Build.Label} vs cuBLAS (every shape it takes)", worst[i] < Bf16Tolerance, $"worst rel err {worst[i]:E2}");
        }
    }

    private static unsafe void LaunchBatch(CudaKernel kernel, nint stream, (uint Blocks, uint Threads) grid, int sharedBytes, ulong x, int tokens, ulong w,
        int n, int k, ulong y, bool floatOutput)
    {
        int asFloat = floatOutput ? 1 : 0, ldy = n;
        void** args = stackalloc void*[] { &x, &tokens, &w, &n, &k, &y, &ldy, &asFloat };
        kernel.Launch(stream, grid.Blocks, 1, grid.Threads, args, (uint)sharedBytes);
    }
}
