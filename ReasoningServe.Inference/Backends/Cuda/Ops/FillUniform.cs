namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>Dummy weights on the device (fill_uniform.cu): U(-scale, scale) from a seed, or a constant when scale is 0.</summary>
internal static unsafe class FillUniform
{
    public static void Launch(CudaKernels kernels, nint stream, ulong x, long count, ulong seed, float scale, float constant)
    {
        void** args = stackalloc void*[] { &x, &count, &seed, &scale, &constant };
        uint blocks = (uint)Math.Clamp((count + 255) / 256, 1, 65535);
        kernels.FillUniform.Launch(stream, blocks, 1, 256, args);
    }
}
