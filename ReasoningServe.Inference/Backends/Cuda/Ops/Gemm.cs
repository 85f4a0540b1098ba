using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// y[t, o] = sum_i x[t, i] W[o, i] through cuBLAS (bf16 in, fp32 accumulate, bf16 or fp32 out). Row-major x [T, K] and
/// W [N, K] (HF's [out, in]) are column-major x^T and W^T, so y^T = W x^T is gemm(op(W)=T, op(x)=N, m=N, n=T, k=K).
/// One token (single-sequence decode) goes to our gemv.cu instead (<see cref="UseGemv"/>, RS_CUDA_GEMV=0 turns it off):
/// on the H200 its sweep streamed every 1.5B and 7B decode projection faster than cuBLAS at one token (7B o 2.45 vs 1.33
/// TB/s, gate_up 4.21 vs 3.77; 1.5B qkv 1.07 vs 0.46), and slower at 4 and 8 (docs/benchmarks/cuda-h200.md), so more
/// tokens stay on cuBLAS. Its fused forms also take the rmsnorm before a projection (<see cref="FuseNorm"/>, opt-in: no
/// faster on the H200) and the SiLU·mul between gate_up and down, one launch fewer each: by default in gate_up's epilogue
/// (<see cref="RunGateUpSilu"/>: a 1.5B step 1.25 -> 1.18 ms), otherwise in down's prologue (<see cref="FuseSilu"/>).
/// Its wide layout (<see cref="Wide"/>: a block per run of rows, threads across the row) streams the long rows of the down
/// projections and the small qkv and o GEMMs faster than a warp per row, and its qkv form (<see cref="RunQkv"/>, default)
/// finishes the rows itself in place of qkv_finish.cu (a 7B step 3.82 -> 3.76 ms). The qkv and o projections of 2 to 8
/// tokens (small decode batches) go to gemv_mma.cu on tensor cores (<see cref="UsesMma"/>).
/// </summary>
internal sealed unsafe class Gemm : IDisposable
{
    public const long WorkspaceBytes = 32L << 20;
    public const int MaxGemvTokens = 1; // gemv.cu's MAXT
    // gemv.cu's rows per warp for each entry point (ROWS, NORM_ROWS, SILU_ROWS), times its 8 warps per block; a unit
    // test holds these and the wide layout's constants to gemv.cu's macros
    internal const int GemvRowsPerBlock = 1 * 8, GemvNormRowsPerBlock = 4 * 8, GemvSiluRowsPerBlock = 2 * 8;
    private readonly nint _handle;
    private readonly nint _stream;
    private readonly CudaKernels? _kernels;
    /// <summary>gemv.cu's wide layout: CPT chunks of 8 weights per thread, at most 32 rows per block, 512 threads.</summary>
    public const int WideChunksPerThread = 5, WideMaxRowsPerBlock = 32, WideMaxThreads = 512;
    /// <summary>
    /// Rows this long (in features) are "long" for RS_CUDA_GEMV_WIDE (every down projection, no hidden-size row); as many
    /// rows as <see cref="WideManyRows"/> are "many" (gate_up, lm_head: the row-per-warp layout keeps those).
    /// </summary>
    public const int WideLongRow = 8192, WideManyRows = 16384;
    private readonly DeviceBuffer _workspace = new(WorkspaceBytes);
    private readonly int _multiprocessors;
    // each wide shape's grid, so that the driver's occupancy query runs once per shape, not per launch
    private readonly Dictionary<(WideKind Kind, int Out, int In), (uint Blocks, uint Threads)> _wideGrids = [];

    /// <param name="multiprocessors">The device's multiprocessor count, which sizes gemv.cu's wide grids (0: no wide layout).</param>
    public Gemm(nint stream, CudaKernels? kernels = null, int multiprocessors = 0)
    {
        _stream = stream;
        _kernels = kernels;
        _multiprocessors = multiprocessors;
        nint handle;
        Cublas.Check(Cublas.cublasCreate(&handle), "cublasCreate");
        _handle = handle;
        Cublas.Check(Cublas.cublasSetStream(handle, stream), "cublasSetStream");
        Cublas.Check(Cublas.cublasSetWorkspace_v2(handle, _workspace.Pointer, (nuint)WorkspaceBytes), "cublasSetWorkspace");
    }

    /// <summary>Whether a GEMM of <paramref name="tokens"/> rows over <paramref name="inFeatures"/> goes to gemv.cu.</summary>
    public bool UsesGemv(int tokens, int inFeatures) =>
        _kernels is { Gemv.IsLoaded: true } && UseGemv && tokens <= MaxGemvTokens && inFeatures % 8 == 0;

    /// <summary>
    /// Whether a GEMM of <paramref name="tokens"/> rows goes to gemv_mma.cu (<see cref="UseMma"/>): 2 to 8 tokens, rows
    /// shorter than <see cref="WideLongRow"/> and fewer than <see cref="WideManyRows"/> of them: the qkv and o projections,
    /// and in small models (0.5B: intermediate 4864) gate_up and down too. On the H200 (cuda-check mma-sweep, run 12) it
    /// streamed 1.5B qkv and o at 0.9-1.2 TB/s against cuBLAS's 0.5-0.8 and the 7B o projection at 2.4 against 1.8-2.1;
    /// cuBLAS kept the long-row down projections (3.4 against 3.3-3.4 in 16 warps), the many-row gate_up (within a few
    /// percent either way, and 4 warps measured 3.9 in one call and 3.3 in the next), the vocabulary projection (4.2
    /// against 4.1) and 16 tokens (slower on every shape). Whole 0.5B, 1.5B and 7B steps of 2-8 sequences were 0-6% faster.
    /// </summary>
    public bool UsesMma(int tokens, int inFeatures, int outFeatures) =>
        IsMmaStep(tokens, inFeatures) && inFeatures < WideLongRow && outFeatures < WideManyRows && _kernels is { GemvMma.IsLoaded: true };

    /// <summary>
    /// Whether <see cref="RunGateUpSilu"/> takes a gate_up projection of 2 to 8 tokens to gemv_mma_gate_up: where gemv_mma
    /// would take it anyway (<see cref="UsesMma"/>: small models' gate_up), or every one with <see cref="MmaMlp"/>.
    /// </summary>
    private bool UsesMmaGateUp(int tokens, int inFeatures, int intermediate) =>
        (MmaMlp ? IsMmaStep(tokens, inFeatures) : UsesMma(tokens, inFeatures, 2 * intermediate)) && _kernels is { GemvMmaGateUp.IsLoaded: true };

    /// <summary>What gemv_mma.cu's entry points all need: <see cref="UseMma"/>, 2 to <see cref="MaxMmaTokens"/> tokens, rows of whole 16-byte chunks.</summary>
    private bool IsMmaStep(int tokens, int inFeatures) =>
        UseMma && tokens > MaxGemvTokens && tokens <= MaxMmaTokens && inFeatures % 8 == 0;

    /// <summary>gemv_mma.cu's most tokens (one n-tile of its MMAs) and its warps per block.</summary>
    public const int MaxMmaTokens = 8, MmaWarps = 16;

    /// <summary>
    /// gemv_mma.cu: row blocks of 16 rows, <paramref name="warps"/> warps a block (at most its MAX_WARPS, 16), on a grid of
    /// <paramref name="blocks"/> (0: one block per row block; fewer: one wave, <see cref="MmaWaveBlocks"/>).
    /// </summary>
    public static void LaunchMma(CudaKernel kernel, nint stream, int warps, ulong x, int tokens, ulong weight, int outFeatures, int inFeatures, ulong y,
        int ldy, bool floatOutput, int blocks = 0)
    {
        int asFloat = floatOutput ? 1 : 0;
        void** args = stackalloc void*[] { &x, &tokens, &weight, &outFeatures, &inFeatures, &y, &ldy, &asFloat };
        int rowBlocks = (outFeatures + 15) / 16;
        kernel.Launch(stream, (uint)(blocks > 0 ? Math.Min(blocks, rowBlocks) : rowBlocks), 1, (uint)(32 * warps), args);
    }

    /// <summary>gemv_mma.cu's gemv_mma_gate_up: row blocks of 8 (gate, up) row pairs, otherwise as <see cref="LaunchMma"/>.</summary>
    public static void LaunchMmaGateUp(CudaKernel kernel, nint stream, int warps, ulong x, int tokens, ulong weight, int intermediate, int inFeatures,
        ulong act, int blocks = 0)
    {
        void** args = stackalloc void*[] { &x, &tokens, &weight, &intermediate, &inFeatures, &act };
        int rowBlocks = (intermediate + 7) / 8;
        kernel.Launch(stream, (uint)(blocks > 0 ? Math.Min(blocks, rowBlocks) : rowBlocks), 1, (uint)(32 * warps), args);
    }

    /// <summary>The blocks of <paramref name="kernel"/> in <paramref name="warps"/>-warp blocks that are resident at once: a one-wave grid.</summary>
    public static int MmaWaveBlocks(CudaKernel kernel, int warps, int multiprocessors) =>
        Math.Max(1, kernel.MaxActiveBlocksPerMultiprocessor(32 * warps)) * multiprocessors;

    private int _mmaWave = -1, _mmaGateUpWave = -1;

    /// <summary>The grid <see cref="Run"/> and <see cref="RunGateUpSilu"/> give gemv_mma.cu: one wave with <see cref="MmaWave"/>, else 0.</summary>
    private int MmaBlocks(bool gateUp)
    {
        if (!MmaWave || _multiprocessors == 0)
        {
            return 0;
        }
        ref int cached = ref gateUp ? ref _mmaGateUpWave : ref _mmaWave;
        if (cached < 0)
        {
            cached = MmaWaveBlocks(gateUp ? _kernels!.GemvMmaGateUp : _kernels!.GemvMma, MmaWarps, _multiprocessors);
        }
        return cached;
    }

    /// <summary>Whether the rmsnorm before such a GEMM goes into it (<see cref="RunRmsNorm"/>).</summary>
    public bool FusesNorm(int tokens, int inFeatures) => FuseNorm && UsesGemv(tokens, inFeatures);

    /// <summary>Whether the SiLU before such a GEMM goes into it (<see cref="RunSilu"/>).</summary>
    public bool FusesSilu(int tokens, int inFeatures) => FuseSilu && UsesGemv(tokens, inFeatures);

    /// <summary>Whether such a GEMM (a gemv.cu one) takes the wide layout: <see cref="Wide"/> asks for it and the row fits a block.</summary>
    public bool UsesWide(int tokens, int inFeatures, int outFeatures) =>
        UsesGemv(tokens, inFeatures) && _multiprocessors > 0 && _kernels!.GemvWide.IsLoaded
        && WideThreads(inFeatures, WideChunksPerThread) <= WideMaxThreads
        && Wide switch
        {
            WideRows.All => true,
            WideRows.Long => inFeatures >= WideLongRow,
            WideRows.LongOrFew => inFeatures >= WideLongRow || outFeatures < WideManyRows,
            _ => false,
        };

    /// <param name="ldy">Row stride of y in elements (>= outFeatures).</param>
    public void Run(ulong x, int tokens, ulong weight, int outFeatures, int inFeatures, ulong y, int ldy, bool floatOutput = false)
    {
        if (UsesWide(tokens, inFeatures, outFeatures))
        {
            RunWide(silu: false, x, weight, outFeatures, inFeatures, y, floatOutput);
            return;
        }
        if (UsesGemv(tokens, inFeatures))
        {
            LaunchGemv(_kernels!.Gemv, _stream, GemvRowsPerBlock, x, tokens, weight, outFeatures, inFeatures, y, ldy, floatOutput);
            return;
        }
        if (UsesMma(tokens, inFeatures, outFeatures))
        {
            LaunchMma(_kernels!.GemvMma, _stream, MmaWarps, x, tokens, weight, outFeatures, inFeatures, y, ldy, floatOutput, MmaBlocks(gateUp: false));
            return;
        }
        float alpha = 1f, beta = 0f;
        int result = Cublas.cublasGemmEx(_handle, Cublas.OpT, Cublas.OpN, outFeatures, tokens, inFeatures, &alpha,
            weight, Cublas.DataTypeBF16, inFeatures, x, Cublas.DataTypeBF16, inFeatures, &beta,
            y, floatOutput ? Cublas.DataTypeF32 : Cublas.DataTypeBF16, ldy, Cublas.ComputeF32, Cublas.GemmDefault);
        Cublas.Check(result, $"cublasGemmEx({tokens}x{inFeatures} by {outFeatures}x{inFeatures})");
    }

    /// <summary>
    /// gemv.cu's gemv_rmsnorm (whatever <see cref="FusesNorm"/> says): y = rmsnorm(residual + delta) W^T, and block 0 writes
    /// residual + delta to <paramref name="residualOut"/>; delta and residualOut 0 for a plain rmsnorm first.
    /// </summary>
    public void RunRmsNorm(ulong residual, ulong delta, ulong normWeight, float eps, ulong residualOut, int tokens, ulong weight, int outFeatures,
        int inFeatures, ulong y, int ldy)
    {
        int asFloat = 0;
        void** args = stackalloc void*[] { &residual, &delta, &normWeight, &eps, &residualOut, &tokens, &weight, &outFeatures, &inFeatures, &y, &ldy, &asFloat };
        _kernels!.GemvRmsNorm.Launch(_stream, GemvBlocks(outFeatures, GemvNormRowsPerBlock), 1, 256, args);
    }

    /// <summary>gemv.cu's gemv_silu (whatever <see cref="FusesSilu"/> says): y = (silu(gate) * up) W^T from the fused gate_up rows.</summary>
    public void RunSilu(ulong gateUp, int tokens, ulong weight, int outFeatures, int inFeatures, ulong y, int ldy)
    {
        if (UsesWide(tokens, inFeatures, outFeatures))
        {
            RunWide(silu: true, gateUp, weight, outFeatures, inFeatures, y, floatOutput: false);
            return;
        }
        int asFloat = 0;
        void** args = stackalloc void*[] { &gateUp, &tokens, &weight, &outFeatures, &inFeatures, &y, &ldy, &asFloat };
        _kernels!.GemvSilu.Launch(_stream, GemvBlocks(outFeatures, GemvSiluRowsPerBlock), 1, 256, args);
    }

    /// <summary>gemv.cu's plain entry point, or a build of it with other tile parameters (rowsPerBlock = ROWS x 8 warps).</summary>
    public static void LaunchGemv(CudaKernel gemv, nint stream, int rowsPerBlock, ulong x, int tokens, ulong weight, int outFeatures, int inFeatures,
        ulong y, int ldy, bool floatOutput)
    {
        int asFloat = floatOutput ? 1 : 0;
        void** args = stackalloc void*[] { &x, &tokens, &weight, &outFeatures, &inFeatures, &y, &ldy, &asFloat };
        gemv.Launch(stream, GemvBlocks(outFeatures, rowsPerBlock), 1, 256, args);
    }

    /// <summary>gemv.cu's gemv_wide or gemv_wide_silu, on the grid <see cref="WideGrid"/> gave this shape.</summary>
    private void RunWide(bool silu, ulong x, ulong weight, int outFeatures, int inFeatures, ulong y, bool floatOutput)
    {
        WideKind kind = silu ? WideKind.Silu : WideKind.Plain;
        LaunchWide(WideKernel(kind), _stream, CachedWideGrid(kind, outFeatures, inFeatures), x, weight, outFeatures, inFeatures, y, floatOutput);
    }

    /// <summary>
    /// Whether <see cref="RunGateUpSilu"/> can take this gate_up projection: of 2 to 8 tokens where gemv_mma_gate_up does
    /// (<see cref="UsesMmaGateUp"/>); of one token, gemv.cu for one token, its wide layout loaded, a row that fits a wide
    /// block (whatever <see cref="Wide"/> says: the pairs of rows need it).
    /// </summary>
    public bool FusesSiluIntoGateUp(int tokens, int inFeatures, int intermediate) =>
        FuseGateUp && (UsesMmaGateUp(tokens, inFeatures, intermediate) || (UsesGemv(tokens, inFeatures) && _multiprocessors > 0 && _kernels!.GemvWideGateUp.IsLoaded
        && WideThreads(inFeatures, WideChunksPerThread) <= WideMaxThreads));

    /// <summary>
    /// act = silu(x W_gate^T) * (x W_up^T) from the fused [gate | up] weight of 2 x <paramref name="intermediate"/> rows,
    /// rounded as silu_mul.cu rounds, in one launch (gemv.cu's gemv_wide_gate_up for one token, gemv_mma_gate_up for 2 to
    /// 8); the down projection then reads act as a plain input.
    /// </summary>
    public void RunGateUpSilu(ulong x, int tokens, ulong weight, int intermediate, int inFeatures, ulong act)
    {
        if (UsesMmaGateUp(tokens, inFeatures, intermediate))
        {
            LaunchMmaGateUp(_kernels!.GemvMmaGateUp, _stream, MmaWarps, x, tokens, weight, intermediate, inFeatures, act, MmaBlocks(gateUp: true));
            return;
        }
        (uint Blocks, uint Threads) grid = CachedWideGrid(WideKind.GateUp, 2 * intermediate, inFeatures);
        void** args = stackalloc void*[] { &x, &weight, &intermediate, &inFeatures, &act };
        WideKernel(WideKind.GateUp).Launch(_stream, grid.Blocks, 1, grid.Threads, args);
    }

    /// <summary>Whether <see cref="RunQkv"/> can take a one-token qkv projection of this shape (the wide layout, an even head dim).</summary>
    public bool FusesQkvFinish(int tokens, int inFeatures, int outFeatures, int headDim) =>
        FuseQkv && headDim % 2 == 0 && _kernels is { GemvWideQkv.IsLoaded: true } && UsesWide(tokens, inFeatures, outFeatures);

    /// <summary>
    /// gemv.cu's gemv_wide_qkv for one token: qkv = x W_qkv^T, then what qkv_finish.cu does for a model without q/k norms
    /// (bias, RoPE on q and k, k and v to cache slot slots[0]), in one launch. 0 for no bias.
    /// </summary>
    public void RunQkv(ulong x, ulong weight, int inFeatures, ulong qkv, ulong bias, ulong positions, ulong invFreq, ulong slots, ulong kCache,
        ulong vCache, int heads, int kvHeads, int headDim)
    {
        int outFeatures = (heads + 2 * kvHeads) * headDim;
        (uint Blocks, uint Threads) grid = CachedWideGrid(WideKind.Qkv, outFeatures, inFeatures);
        void** args = stackalloc void*[]
        {
            &x, &weight, &outFeatures, &inFeatures, &qkv, &bias, &positions, &invFreq, &slots, &kCache, &vCache, &heads, &kvHeads, &headDim,
        };
        WideKernel(WideKind.Qkv).Launch(_stream, grid.Blocks, 1, grid.Threads, args);
    }

    private (uint Blocks, uint Threads) CachedWideGrid(WideKind kind, int outFeatures, int inFeatures)
    {
        if (!_wideGrids.TryGetValue((kind, outFeatures, inFeatures), out (uint, uint) grid))
        {
            int rowGroup = kind is WideKind.Qkv or WideKind.GateUp ? 2 : 1; // rows in RoPE or (gate, up) pairs
            grid = WideGrid(WideKernel(kind), _multiprocessors, WideChunksPerThread, outFeatures, inFeatures, rowGroup, BalancedWideGrids);
            _wideGrids[(kind, outFeatures, inFeatures)] = grid;
        }
        return grid;
    }

    /// <summary>gemv.cu's gemv_wide or gemv_wide_silu (or a build with another CPT) for one token on <paramref name="grid"/> (<see cref="WideGrid"/>).</summary>
    public static void LaunchWide(CudaKernel kernel, nint stream, (uint Blocks, uint Threads) grid, ulong x, ulong weight, int outFeatures, int inFeatures,
        ulong y, bool floatOutput)
    {
        int asFloat = floatOutput ? 1 : 0;
        void** args = stackalloc void*[] { &x, &weight, &outFeatures, &inFeatures, &y, &asFloat };
        kernel.Launch(stream, grid.Blocks, 1, grid.Threads, args);
    }

    /// <summary>
    /// A wide launch's shape: one block's threads span a row (<see cref="WideThreads"/>), and the grid is as many blocks as
    /// fit on the GPU at once (the driver's occupancy answer), or more where a block would otherwise take over
    /// <see cref="WideMaxRowsPerBlock"/> rows; the kernel shares the rows out evenly, in groups of <paramref name="rowGroup"/>
    /// (gemv_wide_qkv's RoPE pairs: 2); <paramref name="balanced"/>: see <see cref="WideBlocks"/>.
    /// </summary>
    public static (uint Blocks, uint Threads) WideGrid(CudaKernel kernel, int multiprocessors, int chunksPerThread, int outFeatures, int inFeatures,
        int rowGroup = 1, bool balanced = false)
    {
        int threads = WideThreads(inFeatures, chunksPerThread);
        int resident = Math.Max(1, kernel.MaxActiveBlocksPerMultiprocessor(threads)) * multiprocessors;
        return ((uint)WideBlocks(resident, outFeatures / rowGroup, WideMaxRowsPerBlock / rowGroup, balanced), (uint)threads);
    }

    /// <summary>
    /// Blocks for <paramref name="groups"/> row groups: as many as are <paramref name="resident"/> at once, or more where a
    /// block would otherwise take over <paramref name="perBlock"/> groups. <paramref name="balanced"/> (one wave only): the
    /// most blocks, down to 3/4 of that, that share the groups exactly, so that no block has one group more than the
    /// others to finish after they are done (1.5B gate_up: 896 blocks of 10 pairs instead of 1056 of 8 or 9).
    /// </summary>
    public static int WideBlocks(int resident, int groups, int perBlock, bool balanced)
    {
        int blocks = Math.Min(groups, Math.Max(resident, (groups + perBlock - 1) / perBlock));
        if (balanced && blocks == resident)
        {
            for (int b = blocks; b >= Math.Max(1, blocks * 3 / 4); b--)
            {
                if (groups % b == 0)
                {
                    return b;
                }
            }
        }
        return blocks;
    }

    /// <summary>Threads of a wide block: enough warps that each thread takes at most <paramref name="chunksPerThread"/> 16-byte chunks of a row.</summary>
    public static int WideThreads(int inFeatures, int chunksPerThread)
    {
        int perThread = 8 * chunksPerThread;
        return (inFeatures + 32 * perThread - 1) / (32 * perThread) * 32;
    }

    private static uint GemvBlocks(int outFeatures, int rowsPerBlock) => (uint)((outFeatures + rowsPerBlock - 1) / rowsPerBlock);

    /// <summary>Whether GEMMs of up to <see cref="MaxGemvTokens"/> tokens use gemv.cu instead of cuBLAS (RS_CUDA_GEMV=0: never).</summary>
    public bool UseGemv { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_GEMV") != "0";

    /// <summary>
    /// Whether GEMMs of 2 to <see cref="MaxMmaTokens"/> tokens (decode steps of a small batch) use gemv_mma.cu instead of
    /// cuBLAS (RS_CUDA_GEMV_MMA=0: never).
    /// </summary>
    public bool UseMma { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_GEMV_MMA") != "0";

    /// <summary>
    /// Whether every gate_up projection of 2 to 8 token steps goes to gemv_mma.cu's gemv_mma_gate_up (RS_CUDA_MMA_MLP=1),
    /// the SiLU·mul in its epilogue (one launch fewer), instead of cuBLAS and silu_mul where cuBLAS has it (the 1.5B's and
    /// 7B's many rows). On the H200 (run 14) that made 0.5B steps of 2 and 8 sequences 0.885 / 0.916 -> 0.828 / 0.855 ms
    /// (it is the default there: gemv_mma already took that gate_up), 1.5B 1.546 / 1.579 -> 1.566 / 1.593, 7B 4.473 /
    /// 4.584 -> 4.447 / 4.766.
    /// </summary>
    public bool MmaMlp { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_MMA_MLP") == "1";

    /// <summary>
    /// gemv_mma.cu on a grid of one wave whose blocks take several row blocks each, instead of one block per row block
    /// (RS_CUDA_MMA_WAVE=0). On the H200 (run 14, mma-sweep, 2 tokens) it streamed 1.5B qkv at 1.43 TB/s instead of 1.11,
    /// o 1.08 instead of 0.93, 7B o 2.56 instead of 2.27; steps of 2 and 8 sequences: 0.5B 0.885 / 0.916 -> 0.854 / 0.887
    /// ms, 1.5B and 7B within 0.5%.
    /// </summary>
    public bool MmaWave { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_MMA_WAVE") != "0";

    /// <summary>gemv.cu's fused rmsnorm prologue instead of a separate rmsnorm launch (RS_CUDA_GEMV_FUSE=norm,silu; it leaves out the qkv epilogue).</summary>
    public bool FuseNorm { get; set; } = FuseOption("norm");

    /// <summary>
    /// gemv.cu's fused SiLU prologue in the down projection instead of a separate silu_mul launch, where <see cref="FuseGateUp"/>
    /// does not apply (on by default; RS_CUDA_GEMV_FUSE=none turns it off).
    /// </summary>
    public bool FuseSilu { get; set; } = FuseOption("silu");

    /// <summary>
    /// Which one-token GEMMs take gemv.cu's wide layout: by default rows of <see cref="WideLongRow"/> or more (the down
    /// projections) and GEMMs of fewer than <see cref="WideManyRows"/> rows (qkv, o); RS_CUDA_GEMV_WIDE=long: only the long
    /// rows; all; none. On the H200 (docs/benchmarks/cuda-h200.md) long rows took a 7B step from 4.19 to 4.10 ms and a 1.5B
    /// one from 1.52 to 1.47; adding the few-row GEMMs gave 4.01 -> 3.95 at 7B and no change at 1.5B; every GEMM was no
    /// better (gate_up and lm_head stream as fast row per warp).
    /// </summary>
    public WideRows Wide { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_GEMV_WIDE") switch
    {
        "none" => WideRows.None,
        "long" => WideRows.Long,
        "all" => WideRows.All,
        _ => WideRows.LongOrFew,
    };

    /// <summary>
    /// gemv.cu's gemv_wide_qkv, the qkv projection with qkv_finish's work in its epilogue, one launch fewer per layer, for
    /// one-token steps of models without q/k norms (RS_CUDA_GEMV_FUSE lists "qkv"; on by default).
    /// </summary>
    public bool FuseQkv { get; set; } = FuseOption("qkv");

    /// <summary>
    /// One-wave wide grids whose blocks share the rows exactly (<see cref="WideBlocks"/>; RS_CUDA_GEMV_BALANCED=0 turns it
    /// off): on the H200 (run 11, two alternations) device steps of 0.5B 0.561 -> 0.535 ms, 1.5B 1.171 -> 1.166, 7B 3.695
    /// -> 3.676.
    /// </summary>
    public bool BalancedWideGrids { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_GEMV_BALANCED") != "0";

    /// <summary>
    /// gemv.cu's gemv_wide_gate_up: the SiLU·mul in the gate_up projection's epilogue, so that the down projection reads a
    /// plain input (RS_CUDA_GEMV_FUSE lists "gate_up"; on by default). Where it applies it replaces <see cref="FuseSilu"/>'s
    /// prologue, which every block of the down projection computed over the whole row before its first multiply.
    /// </summary>
    public bool FuseGateUp { get; set; } = FuseOption("gate_up");

    /// <summary>
    /// RS_CUDA_GEMV_FUSE lists what gemv.cu fuses (norm, silu, qkv, gate_up; "none" for nothing); unset means gate_up,silu,qkv.
    /// </summary>
    private static bool FuseOption(string name) =>
        (Environment.GetEnvironmentVariable("RS_CUDA_GEMV_FUSE") ?? "gate_up,silu,qkv").Split(',', StringSplitOptions.TrimEntries).Contains(name);

    public void Dispose()
    {
        Cublas.cublasDestroy(_handle);
        _workspace.Dispose();
    }

    private CudaKernel WideKernel(WideKind kind) => kind switch
    {
        WideKind.Silu => _kernels!.GemvWideSilu,
        WideKind.Qkv => _kernels!.GemvWideQkv,
        WideKind.GateUp => _kernels!.GemvWideGateUp,
        _ => _kernels!.GemvWide,
    };

    private enum WideKind
    {
        Plain,
        Silu,
        Qkv,
        GateUp,
    }

    /// <summary>Which one-token GEMMs take gemv.cu's wide layout.</summary>
    public enum WideRows
    {
        None,
        Long,
        LongOrFew,
        All,
    }
}
