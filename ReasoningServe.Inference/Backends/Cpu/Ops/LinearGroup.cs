namespace ReasoningServe.Inference.Backends.Cpu.Ops;

/// <summary>
/// Runs up to three linear layers that read the same input (q/k/v, gate/up) as one parallel dispatch over the
/// concatenation of their output rows, like vLLM's merged QKV / gate-up layers but without concatenating weights.
/// </summary>
/// <remarks>Each worker's scratch must hold <see cref="Linear.ScratchLength"/> floats of the widest layer.</remarks>
internal sealed unsafe class LinearGroup(CpuWorkerPool pool, NativeBuffer[] workerScratch) : ParallelJob
{
    private const int MaxLinears = 3;
    private readonly Linear[] _linears = new Linear[MaxLinears];
    private readonly nint[] _outputs = new nint[MaxLinears];
    private readonly int[] _firstChunk = new int[MaxLinears + 1];
    private readonly int[] _chunkRows = new int[MaxLinears];
    private int _count;
    private float* _x;
    private int _tokens;

    public void Run(float* x, int tokens, Linear a, float* ya) => Run(x, tokens, 1, a, ya, a, null, a, null);

    public void Run(float* x, int tokens, Linear a, float* ya, Linear b, float* yb) => Run(x, tokens, 2, a, ya, b, yb, a, null);

    public void Run(float* x, int tokens, Linear a, float* ya, Linear b, float* yb, Linear c, float* yc) =>
        Run(x, tokens, 3, a, ya, b, yb, c, yc);

    private void Run(float* x, int tokens, int count, Linear a, float* ya, Linear b, float* yb, Linear c, float* yc)
    {
        _x = x;
        _tokens = tokens;
        _count = count;
        _linears[0] = a; _outputs[0] = (nint)ya;
        _linears[1] = b; _outputs[1] = (nint)yb;
        _linears[2] = c; _outputs[2] = (nint)yc;
        int totalRows = 0;
        for (int i = 0; i < count; i++)
        {
            totalRows += _linears[i].OutFeatures;
        }
        // Enough chunks that every worker gets several (dynamic balancing), each a multiple of the tile height.
        int target = Math.Max(Linear.TileRows, totalRows / (pool.WorkerCount * 8));
        target = Math.Min(256, (target + Linear.TileRows - 1) / Linear.TileRows * Linear.TileRows);
        _firstChunk[0] = 0;
        for (int i = 0; i < count; i++)
        {
            _chunkRows[i] = target;
            _firstChunk[i + 1] = _firstChunk[i] + (_linears[i].OutFeatures + target - 1) / target;
        }
        pool.Run(_firstChunk[count], this);
    }

    public override void Execute(int item, int worker)
    {
        int l = 0;
        while (item >= _firstChunk[l + 1])
        {
            l++;
        }
        Linear linear = _linears[l];
        int begin = (item - _firstChunk[l]) * _chunkRows[l];
        int end = Math.Min(linear.OutFeatures, begin + _chunkRows[l]);
        linear.ComputeRows(_x, _tokens, (float*)_outputs[l], linear.OutFeatures, begin, end, workerScratch[worker].Pointer);
    }
}
