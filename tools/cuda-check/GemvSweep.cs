using System.Text;
using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Model;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;
using static ReasoningServe.Tools.CudaCheck.DeviceArrays;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// gemv.cu built with other parameters (-D MAXT, ROWS, UNROLL, SLAB_CHUNKS) against cuBLAS on the decode GEMMs of the
/// Qwen2.5-1.5B and 7B shapes at up to the variants' token count: the weight bytes streamed per second of each, every
/// launch on weights the previous launches did not touch (as each layer's are), and each variant's worst error against
/// cuBLAS. One run shows which parameters (if any) beat cuBLAS, so the backend's build can take them. (Builds for 8
/// tokens lost to cuBLAS at 4 and 8 tokens on every shape: docs/benchmarks/results/h200/run3/cuda-check.log.)
/// </summary>
internal static class GemvSweep
{
    /// <summary>
    /// A build of gemv.cu: its row-per-warp entry point (MaxTokens, Rows, Unroll, Slab), or with <see cref="Wide"/> its wide
    /// one for one token (ChunksPerThread, WideRows).
    /// </summary>
    private sealed record Variant(int MaxTokens, int Rows, int Unroll, int Slab, bool Wide = false, int ChunksPerThread = 0, int WideRows = 0)
    {
        public static Variant WideLayout(int chunksPerThread, int rows) => new(1, 0, 0, 0, true, chunksPerThread, rows);

        /// <summary>t = tokens, r = rows per warp, u = loads in flight per row, s = x chunks per slab; w = wide: c = chunks per thread, r = rows at a time.</summary>
        public string Label => Wide ? $"w c{ChunksPerThread}r{WideRows}" : $"t{MaxTokens}r{Rows}u{Unroll}s{Slab}";

        public string[] Defines => Wide ? [$"-DCPT={ChunksPerThread}", $"-DWIDE_ROWS={WideRows}"]
            : [$"-DMAXT={MaxTokens}", $"-DROWS={Rows}", $"-DUNROLL={Unroll}", $"-DSLAB_CHUNKS={Slab}"];

        public bool Fits(int k) => !Wide || Gpu.Gemm.WideThreads(k, ChunksPerThread) <= Gpu.Gemm.WideMaxThreads;
    }

    // The backend's row-per-warp build first, then the wide layout's: its default (c6r2) and other splits of a thread's
    // loads in flight between chunks and rows (those that ptxas fits in 128 registers without spilling).
    private static readonly Variant[] Variants =
    [
        new(1, 1, 8, 2048), Variant.WideLayout(6, 2), Variant.WideLayout(5, 2), Variant.WideLayout(5, 3), Variant.WideLayout(8, 1),
        Variant.WideLayout(6, 1), Variant.WideLayout(4, 3), Variant.WideLayout(3, 4),
    ];

    internal static readonly (string Name, int N, int K, bool Logits)[] Shapes =
        [.. DecodeGemms("7B", DecodeBench.Qwen7B, lmHead: true), .. DecodeGemms("1.5B", DecodeBench.Qwen15B, lmHead: false)];

    /// <summary>A decode layer's GEMMs (out x in features) of <paramref name="c"/>, and its vocabulary projection if asked.</summary>
    private static IEnumerable<(string Name, int N, int K, bool Logits)> DecodeGemms(string model, ModelConfig c, bool lmHead)
    {
        int h = c.HiddenSize;
        yield return ($"{model} qkv", c.QSize + 2 * c.KvSize, h, false);
        yield return ($"{model} o", h, c.QSize, false);
        yield return ($"{model} gate_up", 2 * c.IntermediateSize, h, false);
        yield return ($"{model} down", h, c.IntermediateSize, false);
        if (lmHead)
        {
            yield return ($"{model} lm_head", c.VocabSize, h, true);
        }
    }

    private const long PoolBytes = 2L << 30;
    private const int Runs = 20;

    public static void Run(CudaDevice device, CudaKernels kernels)
    {
        Report.Section("6. gemv.cu variants vs cuBLAS on decode GEMMs (TB/s of weights read; t = tokens, r = rows per warp, u = loads in flight per row, s = x chunks per slab; w = wide layout, c = chunks per thread, r = rows at a time)");
        nint stream = device.Stream;
        using var builds = new KernelBuilds(device);
        var loaded = Variants.Select(v => (Variant: v, Kernel: builds.Load("gemv.cu", v.Defines, v.Wide ? "gemv_wide" : "gemv"))).ToArray();
        using var data = new SweepData(kernels, stream);
        var worst = new double[loaded.Length];
        foreach ((string name, int n, int k, bool logits) in Shapes)
        {
            long bytes = 2L * n * k;
            foreach (int tokens in new[] { 1, 4, 8 }.Where(t => t <= Variants.Max(v => v.MaxTokens)))
            {
                (double cublasRate, float[] expected) = data.Cublas(tokens, n, k, logits);
                var line = new StringBuilder($"  {name,-13} {n,6}x{k,-5} t={tokens}: cuBLAS {cublasRate,5:F2}");
                for (int i = 0; i < loaded.Length; i++)
                {
                    (Variant v, CudaKernel kernel) = loaded[i];
                    if (tokens > v.MaxTokens || !v.Fits(k))
                    {
                        continue;
                    }
                    (uint, uint) wideGrid = v.Wide ? Gpu.Gemm.WideGrid(kernel, device.MultiprocessorCount, v.ChunksPerThread, n, k) : default;
                    void Launch(ulong w)
                    {
                        if (v.Wide)
                        {
                            Gpu.Gemm.LaunchWide(kernel, stream, wideGrid, data.X.Pointer, w, n, k, data.Y.Pointer, logits);
                        }
                        else
                        {
                            Gpu.Gemm.LaunchGemv(kernel, stream, v.Rows * 8, data.X.Pointer, tokens, w, n, k, data.Y.Pointer, n, logits);
                        }
                    }
                    Launch(data.Pool.Pointer);
                    worst[i] = Math.Max(worst[i], Errors(data.Output(tokens * n, logits), expected).Relative);
                    line.Append($" | {v.Label} {data.Rate(bytes, Launch),5:F2}");
                }
                Report.Line(line.ToString());
            }
        }
        for (int i = 0; i < loaded.Length; i++)
        {
            Report.Check($"gemv {loaded[i].Variant.Label} vs cuBLAS (every shape)", worst[i] < Bf16Tolerance, $"worst rel err {worst[i]:E2}");
        }
    }

    /// <summary>
    /// What both sweeps time on, filled alike so that their rates compare: a pool of weights (each launch reads the next
    /// shape's worth, as each layer reads its own), x for up to 8 tokens, the output, and cuBLAS as the baseline.
    /// </summary>
    internal sealed class SweepData : IDisposable
    {
        private const int MaxTokens = 8, MaxIn = 18944, MaxOut = 152064;
        private readonly nint _stream;
        private readonly DeviceBuffer _reference = new(4L * MaxTokens * MaxOut);
        private readonly Gpu.Gemm _cublas;

        public SweepData(CudaKernels kernels, nint stream)
        {
            _stream = stream;
            _cublas = new Gpu.Gemm(stream);
            Gpu.FillUniform.Launch(kernels, stream, Pool.Pointer, PoolBytes / 2, seed: 7, scale: 0.05f, constant: 0f);
            Gpu.FillUniform.Launch(kernels, stream, X.Pointer, MaxTokens * MaxIn, seed: 8, scale: 1f, constant: 0f);
        }

        public DeviceBuffer Pool { get; } = new(PoolBytes);
        public DeviceBuffer X { get; } = new(2L * MaxTokens * MaxIn);
        public DeviceBuffer Y { get; } = new(4L * MaxTokens * MaxOut);

        /// <summary>cuBLAS's TB/s on this GEMM, and its result on the pool's first weights: the reference of the variants' error.</summary>
        public (double Rate, float[] Expected) Cublas(int tokens, int n, int k, bool logits)
        {
            double rate = Rate(2L * n * k, w => _cublas.Run(X.Pointer, tokens, w, n, k, Y.Pointer, n, logits));
            _cublas.Run(X.Pointer, tokens, Pool.Pointer, n, k, _reference.Pointer, n, logits);
            return (rate, Out(_reference, tokens * n, logits));
        }

        /// <summary>TB/s of weights over <see cref="Runs"/> launches, each on the next <paramref name="bytes"/> of the pool.</summary>
        public double Rate(long bytes, Action<ulong> launch)
        {
            long stride = (bytes + 255) / 256 * 256, span = PoolBytes - stride;
            long next = 0;
            double ms = EventTimer.MeanMilliseconds(_stream, Runs, () => launch(Pool.Pointer + (ulong)(next++ * stride % span)));
            return bytes / (ms * 1e-3) / 1e12;
        }

        /// <summary>The first <paramref name="count"/> outputs in Y.</summary>
        public float[] Output(int count, bool logits) => Out(Y, count, logits);

        private static float[] Out(DeviceBuffer buffer, int count, bool logits) =>
            logits ? Download<float>(buffer.Pointer, count) : DownloadBf16(buffer.Pointer, count);

        public void Dispose()
        {
            _cublas.Dispose();
            _reference.Dispose();
            Pool.Dispose();
            X.Dispose();
            Y.Dispose();
        }
    }
}
