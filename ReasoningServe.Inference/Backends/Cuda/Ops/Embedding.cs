namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>out[t, :] = table[ids[t], :] (embedding.cu); also gathers rows of hidden states by index.</summary>
internal static unsafe class Embedding
{
    public static void Launch(CudaKernels kernels, nint stream, ulong table, ulong ids, ulong output, int rows, int hidden)
    {
        void** args = stackalloc void*[] { &table, &ids, &output, &hidden };
        kernels.Embedding.Launch(stream, (uint)rows, 1, 256, args);
    }
}
