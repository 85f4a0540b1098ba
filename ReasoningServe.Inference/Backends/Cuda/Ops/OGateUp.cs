using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// gemv_o_gate_up.cu: a one-token step's o projection, post-attention residual add and RMSNorm, and gate_up projection
/// with SiLU·mul in one launch of one block per multiprocessor not held by attention, whose weights stream into shared
/// memory from the moment its blocks start (while attention runs), at a paced rate; bit for bit what gemv_wide,
/// add_rmsnorm and gemv_wide_gate_up give.
/// </summary>
internal sealed unsafe class OGateUp : IDisposable
{
    private const int CopyWarpThreads = 32;
    private readonly CudaKernel _kernel;
    private readonly DeviceBuffer _arrivals = new(8);
    private readonly int _hidden, _inter, _group, _stages, _maxRows;
    private readonly uint _blocks, _threads, _sharedBytes;

    /// <summary>
    /// Shared memory a block asks for by default: a ring that holds more of gate_up while the o rows, the barrier and the
    /// norm run, with room left for the down projection's early blocks (gemv_wide's 4 KB). 1.5B steps at 128 positions
    /// (run 24, paced at 5-5.5 TB/s; calls 3, 4 and 9): 1.088-1.095 ms with 215 KB, 1.086-1.092 with 220, 1.099-1.101 with 170.
    /// </summary>
    public const int DefaultSharedBytes = 215 * 1024;

    /// <summary>Shared memory a block asks for in the step: RS_CUDA_O_GATE_UP_KB (KB), else <see cref="DefaultSharedBytes"/>.</summary>
    public static readonly int SharedBytes =
        int.TryParse(Environment.GetEnvironmentVariable("RS_CUDA_O_GATE_UP_KB"), out int kb) ? kb * 1024 : DefaultSharedBytes;

    /// <summary>
    /// The rate, bytes a nanosecond over the grid, at which its blocks copy weights until the normalized row is ready
    /// (RS_CUDA_O_GATE_UP_PACE; 0: as fast as stages free). A dependent L2 load took ~150 ns with the memory idle, ~230 at
    /// 3.7 TB/s of weights streaming and 700-900 at 4.5 on the H200 (tools/gpu/latency_under_stream.cu), and attention's
    /// last loads, the barrier and the norm wait on such loads. Run 23 (170 KB, 1.5B steps at 128 positions, the separate
    /// kernels 1.137 ms): 1.120-1.125 ms at 3.2 TB/s, 1.132 at 4.2, 1.138 at 2.6. Run 24 (215 KB, gate and up paced one by
    /// one; the separate kernels 1.132-1.135): 1.103 at 4.5, 1.093-1.094 at 5, 1.092 at 5.25, 1.088-1.094 at 5.5, 1.100 at
    /// 5.75, then a cliff: 1.124-1.127 at 6, 1.123-1.125 at 6.5, 1.133 at 8, 1.144 unpaced. 5 is the default, a step back
    /// from the cliff, whose place moved between builds (6 was 1.092 in an earlier one).
    /// </summary>
    public static readonly int PacedBytesPerNs =
        int.TryParse(Environment.GetEnvironmentVariable("RS_CUDA_O_GATE_UP_PACE"), out int pace) && pace >= 0 ? pace : 5000;

    private readonly uint _paceNs;

    /// <param name="blocks">The grid: the multiprocessors that attention's blocks leave free, so that every block starts
    /// at once (run 21: on 132 multiprocessors the blocks on attention's two started only when it ended).</param>
    private OGateUp(CudaKernel kernel, int blocks, int hidden, int inter, int sharedBudget, nint stream)
    {
        _kernel = kernel;
        _hidden = hidden;
        _inter = inter;
        (_group, int groups, int stageBytes) = StageLayout(hidden);
        _threads = (uint)(_group * groups + CopyWarpThreads);
        _blocks = (uint)blocks;
        _maxRows = (hidden + blocks - 1) / blocks + 2 * ((inter + blocks - 1) / blocks);
        int partialBytes = 4 * ((_maxRows * (_group / 32) + 1) & ~1);
        int rowBytes = 2 * hidden;
        _stages = (sharedBudget - 2 * rowBytes - partialBytes - 8) / (stageBytes + 16);
        _sharedBytes = (uint)(_stages * stageBytes + 2 * rowBytes + partialBytes + 16 * _stages + 8);
        _paceNs = PacedBytesPerNs == 0 ? 0u : (uint)((long)stageBytes * blocks / PacedBytesPerNs);
        CudaDriver.Check(CudaDriver.cuMemsetD8Async(_arrivals.Pointer, 0, 8, stream), "cuMemsetD8Async(gemv_o_gate_up arrivals)");
    }

    /// <summary>
    /// A block's compute threads: groups of gemv.cu's wide block size for the row (<c>Group</c> threads each, as many as
    /// fit <see cref="Gemm.WideMaxThreads"/>), and a ring stage of two rows a group.
    /// </summary>
    private static (int Group, int Groups, int StageBytes) StageLayout(int hidden)
    {
        int group = Gemm.WideThreads(hidden, Gemm.WideChunksPerThread), groups = Gemm.WideMaxThreads / group;
        return (group, groups, 2 * groups * 2 * hidden);
    }

    /// <summary>Why a model's layers cannot take it on this device, or null when they can.</summary>
    public static string? WhyNot(CudaKernels kernels, CudaDevice device, int hidden, int qSize, int multiprocessors, int sharedBudget)
    {
        if (!kernels.GemvOGateUp.IsLoaded || device.ComputeCapability < 90)
        {
            return "it needs bulk copies (sm_90) and gemv_o_gate_up.cu loaded";
        }
        if (hidden != qSize || hidden % 8 != 0 || hidden > 8192)
        {
            return "it takes a q size equal to the hidden size, a multiple of 8 up to 8192";
        }
        // Over half a multiprocessor's shared memory, so that no two launches' blocks share one (the barrier's count relies
        // on it), and room for two stages of 2 x (512 / G) rows.
        int stageBytes = StageLayout(hidden).StageBytes;
        if (sharedBudget > device.MaxSharedBytesPerBlock || 2 * sharedBudget <= device.MaxSharedBytesPerBlock + 1024 || sharedBudget < 2 * stageBytes + 8 * hidden)
        {
            return $"{sharedBudget} bytes of shared memory a block is not over half the device's {device.MaxSharedBytesPerBlock} with two stages of {stageBytes}";
        }
        return multiprocessors < 1 ? "no multiprocessors" : null;
    }

    /// <summary>
    /// The launch for one model shape, its grid the device's multiprocessors less the <paramref name="attentionBlocks"/>
    /// that one token's attention runs on (every block resident at once: the kernel has a grid barrier).
    /// </summary>
    public static OGateUp Create(CudaKernels kernels, CudaDevice device, int hidden, int inter, int sharedBudget, int attentionBlocks, nint stream)
    {
        int blocks = Math.Max(1, device.MultiprocessorCount - attentionBlocks);
        var op = new OGateUp(kernels.GemvOGateUp, blocks, hidden, inter, sharedBudget, stream);
        kernels.GemvOGateUp.AllowDynamicSharedBytes((int)op._sharedBytes);
        if (kernels.GemvOGateUp.MaxActiveBlocksPerMultiprocessor((int)op._threads, (int)op._sharedBytes) < 1)
        {
            op.Dispose();
            throw new NotSupportedException($"gemv_o_gate_up.cu: a block of {op._threads} threads and {op._sharedBytes} bytes does not fit a multiprocessor.");
        }
        return op;
    }

    /// <summary>Ring stages a block streams its rows through (for tools/cuda-check's report).</summary>
    public int Stages => _stages;

    /// <summary>residual += attn W_o^T (bf16), act = silu(g) * u of rmsnorm(residual) [W_gate | W_up]^T, one token.</summary>
    public void Launch(nint stream, ulong attn, ulong wO, ulong residual, ulong normWeight, float eps, ulong wGateUp, ulong act)
    {
        int inter = _inter, hidden = _hidden, group = _group, stages = _stages, maxRows = _maxRows;
        uint paceNs = _paceNs;
        ulong arrivals = _arrivals.Pointer;
        void** args = stackalloc void*[]
        {
            &attn, &wO, &residual, &normWeight, &eps, &wGateUp, &inter, &act, &hidden, &group, &stages, &maxRows, &arrivals, &paceNs,
        };
        _kernel.Launch(stream, _blocks, 1, _threads, args, _sharedBytes);
    }

    public void Dispose() => _arrivals.Dispose();
}
