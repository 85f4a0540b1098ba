using ReasoningServe.Inference.Backends.Cuda.Native;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>GPU time of work queued on a stream, measured with CUDA events (what the device did, not the host).</summary>
internal static unsafe class EventTimer
{
    /// <summary>Mean milliseconds of one launch over <paramref name="runs"/>, timed with events after one warm-up.</summary>
    public static double MeanMilliseconds(nint stream, int runs, Action launch)
    {
        nint start, end;
        CudaDriver.Check(CudaDriver.cuEventCreate(&start, CudaDriver.EventDefault), "cuEventCreate");
        CudaDriver.Check(CudaDriver.cuEventCreate(&end, CudaDriver.EventDefault), "cuEventCreate");
        try
        {
            launch();
            CudaDriver.Check(CudaDriver.cuEventRecord(start, stream), "cuEventRecord");
            for (int i = 0; i < runs; i++)
            {
                launch();
            }
            CudaDriver.Check(CudaDriver.cuEventRecord(end, stream), "cuEventRecord");
            CudaDriver.Check(CudaDriver.cuEventSynchronize(end), "cuEventSynchronize");
            float ms;
            CudaDriver.Check(CudaDriver.cuEventElapsedTime(&ms, start, end), "cuEventElapsedTime");
            return ms / runs;
        }
        finally
        {
            CudaDriver.cuEventDestroy(start);
            CudaDriver.cuEventDestroy(end);
        }
    }
}
