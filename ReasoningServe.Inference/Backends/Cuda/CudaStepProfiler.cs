using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>
/// Where an eager step's GPU time goes: the backend records an event after each op with the op's label, and the time
/// from the previous event is charged to that label (events on the one stream, so nothing overlaps). For benchmarks
/// (tools/cuda-check); the backend only pays a null check when none is attached.
/// </summary>
internal sealed unsafe class CudaStepProfiler : IDisposable
{
    private readonly List<nint> _events = [];
    private readonly List<string> _labels = [];
    private readonly Dictionary<string, double> _milliseconds = [];
    private int _used;

    /// <summary>Steps measured so far.</summary>
    public int Steps { get; private set; }

    /// <summary>Milliseconds per label, summed over the measured steps.</summary>
    public IReadOnlyDictionary<string, double> Milliseconds => _milliseconds;

    public void Begin(nint stream)
    {
        _used = 0;
        _labels.Clear();
        Record("", stream);
    }

    public void Mark(string label, nint stream) => Record(label, stream);

    /// <summary>Waits for the step and charges each interval to its label.</summary>
    public void End()
    {
        CudaDriver.Check(CudaDriver.cuEventSynchronize(_events[_used - 1]), "cuEventSynchronize");
        for (int i = 1; i < _used; i++)
        {
            float ms;
            CudaDriver.Check(CudaDriver.cuEventElapsedTime(&ms, _events[i - 1], _events[i]), "cuEventElapsedTime");
            _milliseconds[_labels[i]] = _milliseconds.GetValueOrDefault(_labels[i]) + ms;
        }
        Steps++;
    }

    private void Record(string label, nint stream)
    {
        if (_used == _events.Count)
        {
            nint created;
            CudaDriver.Check(CudaDriver.cuEventCreate(&created, CudaDriver.EventDefault), "cuEventCreate");
            _events.Add(created);
        }
        CudaDriver.Check(CudaDriver.cuEventRecord(_events[_used++], stream), "cuEventRecord");
        _labels.Add(label);
    }

    public void Dispose()
    {
        foreach (nint e in _events)
        {
            CudaDriver.cuEventDestroy(e);
        }
        _events.Clear();
    }
}
