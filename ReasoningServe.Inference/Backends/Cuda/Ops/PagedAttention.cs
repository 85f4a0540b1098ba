namespace ReasoningServe.Inference.Backends.Cuda.Ops;

/// <summary>
/// Causal GQA attention of every new token over its paged context (paged_attention.cu). Per token the caller gives
/// its sequence (row of <c>blockTables</c>, each row <c>maxBlocks</c> ints) and how many context positions it sees.
/// </summary>
internal static unsafe class PagedAttention
{
    public const int MaxHeadDim = 256;

    public static void Launch(CudaKernels kernels, nint stream, ulong q, int qRowStride, ulong output, ulong kCache, ulong vCache,
        ulong blockTables, int maxBlocks, ulong tokenSeq, ulong tokenContext, int tokens, int heads, int kvHeads, int headDim, int blockSize)
    {
        if (headDim > MaxHeadDim)
        {
            throw new NotSupportedException($"head_dim {headDim} exceeds the attention kernel's {MaxHeadDim}.");
        }
        float scale = 1f / MathF.Sqrt(headDim);
        void** args = stackalloc void*[]
        {
            &q, &qRowStride, &output, &kCache, &vCache, &blockTables, &maxBlocks, &tokenSeq, &tokenContext, &heads, &kvHeads, &headDim, &blockSize, &scale,
        };
        kernels.PagedAttention.Launch(stream, (uint)tokens, (uint)heads, 128, args);
    }
}
