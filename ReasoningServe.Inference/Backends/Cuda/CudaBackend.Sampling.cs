using ReasoningServe.Inference.Backends.Cuda.Native;
using CudaOps = ReasoningServe.Inference.Backends.Cuda.Ops;

namespace ReasoningServe.Inference.Backends.Cuda;

/// <summary>Random sampling on the GPU (sample.cu): the engine's temperature / top-k / top-p / min-p / seeds / logprobs.</summary>
internal sealed unsafe partial class CudaBackend
{
    private readonly PinnedBuffer _sampleParams = new(), _sampleResults = new();
    private readonly DeviceBuffer _sampleParamsDevice = new(), _sampleResultsDevice = new();

    /// <summary>
    /// Forward, then sample.cu draws every sequence's token on the GPU: only the ids and requested logprobs cross to the
    /// host instead of the fp32 logits. Opt-in (RS_CUDA_SAMPLING=1) until it has run on a GPU.
    /// </summary>
    public bool TryForwardSampled(ForwardBatch batch, ReadOnlySpan<BackendSamplingParams> parameters, BackendSamples samples)
    {
        int seqs = batch.NumSeqs;
        if (!SupportsSampling || parameters.Length != seqs)
        {
            return false;
        }
        if (!TryReplayGraph(batch))
        {
            RunToLogits(batch);
        }
        _sampleParams.EnsureCapacity(4L * CudaOps.Sample.ParamFloats * seqs);
        _sampleParamsDevice.EnsureCapacity(4L * CudaOps.Sample.ParamFloats * seqs);
        _sampleResults.EnsureCapacity(4L * CudaOps.Sample.OutInts * seqs);
        _sampleResultsDevice.EnsureCapacity(4L * CudaOps.Sample.OutInts * seqs);
        var packed = new Span<float>(_sampleParams.Pointer, CudaOps.Sample.ParamFloats * seqs);
        for (int i = 0; i < seqs; i++)
        {
            CudaOps.Sample.Pack(parameters[i], packed, i);
        }
        nint stream = _device.Stream;
        CudaDriver.Check(CudaDriver.cuMemcpyHtoDAsync(_sampleParamsDevice.Pointer, _sampleParams.Pointer, (nuint)(4L * packed.Length), stream), "cuMemcpyHtoDAsync(sampling)");
        CudaOps.Sample.Launch(_kernels, stream, _logits.Pointer, Config.VocabSize, _sampleParamsDevice.Pointer, _sampleResultsDevice.Pointer, seqs);
        CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync(_sampleResults.Pointer, _sampleResultsDevice.Pointer, (nuint)(4L * CudaOps.Sample.OutInts * seqs), stream),
            "cuMemcpyDtoHAsync(samples)");
        _device.Synchronize();
        samples.EnsureCapacity(seqs);
        var results = new ReadOnlySpan<int>(_sampleResults.Pointer, CudaOps.Sample.OutInts * seqs);
        for (int i = 0; i < seqs; i++)
        {
            CudaOps.Sample.Unpack(results, i, parameters[i].Logprobs, samples);
        }
        return true;
    }

    /// <summary>Random sampling on the GPU for <see cref="TryForwardSampled"/> (RS_CUDA_SAMPLING=1; off: the engine samples on the CPU).</summary>
    public bool UseGpuSampling { get; set; } = Environment.GetEnvironmentVariable("RS_CUDA_SAMPLING") == "1";

    public bool SupportsSampling => UseGpuSampling && _kernels.Sample.IsLoaded;
}
