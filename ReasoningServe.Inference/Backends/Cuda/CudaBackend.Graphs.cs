using System.Numerics;
using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// Decode steps as CUDA graphs: one per padded batch bucket and block-table width bucket, captured the first time that
/// shape runs and replayed with one cuGraphLaunch after its inputs are packed into the graph's own pinned block.
/// </summary>
internal sealed unsafe partial class CudaBackend
{
    private readonly Dictionary<(int Seqs, int Width), DecodeGraph> _graphs = [];

    /// <summary>Largest decode batch replayed from a CUDA graph; larger ones launch eagerly.</summary>
    public const int MaxGraphSeqs = 256;

    /// <summary>Replay decode steps from CUDA graphs (vLLM's default; <c>--enforce-eager</c> or RS_CUDA_GRAPHS=0 turns it off).</summary>
    public bool UseGraphs { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_GRAPHS") != "0";

    /// <summary>
    /// Decode steps (one new token per sequence) replay a CUDA graph captured for the batch padded to a size bucket and
    /// its block tables padded to a width bucket: the inputs are packed into the graph's own pinned block and one
    /// cuGraphLaunch runs the copy in, every layer, the argmax and the copy of the ids out.
    /// </summary>
    private bool TryReplayGraph(ForwardBatch batch)
    {
        int seqs = batch.NumSeqs;
        if (!UseGraphs || batch.NumTokens != seqs || seqs > MaxGraphSeqs)
        {
            return false;
        }
        CudaKvCache cache = _kvCache ?? throw new InvalidOperationException("AllocateKvCache must be called before Forward.");
        _device.MakeCurrent();
        (int bucket, int width) = GraphKey(batch);
        int splits = AttentionSplits(bucket, width * cache.BlockSize);
        EnsureCapacity(bucket, bucket, splits);
        if (_graphs.TryGetValue((bucket, width), out DecodeGraph? graph))
        {
            graph.Inputs.Pack(batch, cache, _device, bucket, width);
            CudaDriver.Check(CudaDriver.cuGraphLaunch(graph.Exec, _device.Stream), "cuGraphLaunch");
            return true;
        }
        // A new shape runs eagerly first (this step's result, and cuBLAS and lazily loaded modules warmed up outside
        // the capture), then the same launches are captured for the steps after it.
        var inputs = new CudaStepInputs();
        inputs.Pack(batch, cache, _device, bucket, width);
        inputs.CopyToDevice(_device.Stream);
        Enqueue(inputs, cache, splits);
        EnqueueGreedyIds(bucket);
        _device.Synchronize();
        try
        {
            _graphs[(bucket, width)] = Capture(inputs, cache, bucket, splits);
        }
        catch (CudaException e)
        {
            inputs.Dispose();
            Console.Error.WriteLine($"warning: CUDA graph capture failed, decoding eagerly from now on: {e.Message}");
            UseGraphs = false;
        }
        return true;
    }

    /// <summary>
    /// For benchmarks: launches the graph an earlier step of <paramref name="batch"/>'s shape captured, with the inputs it
    /// last packed, and neither packs nor waits, so that replays queued back to back time the device's step without the
    /// host's part. False when no such graph exists.
    /// </summary>
    internal bool TryRelaunchGraph(ForwardBatch batch)
    {
        if (!_graphs.TryGetValue(GraphKey(batch), out DecodeGraph? graph))
        {
            return false;
        }
        CudaDriver.Check(CudaDriver.cuGraphLaunch(graph.Exec, _device.Stream), "cuGraphLaunch");
        return true;
    }

    private DecodeGraph Capture(CudaStepInputs inputs, CudaKvCache cache, int bucket, int splits)
    {
        nint stream = _device.Stream, graph = 0, exec = 0;
        CudaDriver.Check(CudaDriver.cuStreamBeginCapture(stream, CudaDriver.StreamCaptureModeRelaxed), "cuStreamBeginCapture");
        try
        {
            try
            {
                inputs.CopyToDevice(stream);
                Enqueue(inputs, cache, splits);
                EnqueueGreedyIds(bucket);
            }
            finally
            {
                CudaDriver.Check(CudaDriver.cuStreamEndCapture(stream, &graph), "cuStreamEndCapture");
            }
            CudaDriver.Check(CudaDriver.cuGraphInstantiateWithFlags(&exec, graph, 0), "cuGraphInstantiateWithFlags");
            return new DecodeGraph(inputs, exec);
        }
        finally
        {
            if (graph != 0)
            {
                CudaDriver.cuGraphDestroy(graph);
            }
        }
    }

    /// <summary>The graph a decode batch replays: its padded batch size and its block tables' width bucket.</summary>
    private static (int Bucket, int Width) GraphKey(ForwardBatch batch) => (GraphBatchBucket(batch.NumSeqs), GraphWidth(StepInputLayout.LongestTable(batch)));

    /// <summary>Block-table widths graphs are captured for: the longest table rounded up to a power of two, at least 8 blocks.</summary>
    internal static int GraphWidth(int longestTable) => (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(8, longestTable));

    /// <summary>Batch sizes graphs are captured for: 1, 2, 4, then multiples of 8 (vLLM's buckets).</summary>
    internal static int GraphBatchBucket(int seqs) => seqs <= 4 ? (int)BitOperations.RoundUpToPowerOf2((uint)seqs) : (seqs + 7) / 8 * 8;

    /// <summary>Waits for the device (a graph may still run) and frees every captured graph.</summary>
    private void DropGraphs()
    {
        _device.Synchronize();
        foreach (DecodeGraph graph in _graphs.Values)
        {
            graph.Dispose();
        }
        _graphs.Clear();
    }

    /// <summary>An instantiated decode graph and the pinned/device block its first node copies the step's inputs from.</summary>
    private sealed class DecodeGraph(CudaStepInputs inputs, nint exec) : IDisposable
    {
        public CudaStepInputs Inputs { get; } = inputs;
        public nint Exec { get; } = exec;

        public void Dispose()
        {
            CudaDriver.cuGraphExecDestroy(Exec);
            Inputs.Dispose();
        }
    }
}
