// Attention of each new token over its paged context on tensor cores, for decode: the query heads of one GQA group
// (up to 16) are the M rows of an mma.sync m16n8k16 (bf16 in, fp32 out; rows past the group are zero), keys are N.
// Same parameters, results and split-K partials as gqa_attention.cu, so attention_combine.cu merges the splits:
//   s_hj = (q_h . k_j) / sqrt(d) for j < ctx[t];  o_h = sum_j softmax(s_h)_j v_j;  group g = h / (heads / kvHeads)
// Context position j lives in slot blockTable[j / blockSize] * blockSize + j % blockSize.
// One block of 4 warps per (token, KV head, context split). The split's keys are cut into tiles of 16; warp w takes
// tiles w, w + 4, w + 8, ... and streams them through its own ring of shared-memory buffers (no block barrier in the
// loop): each K or V tile (16 rows x head_dim bf16) is gathered from the paged cache with 16-byte cp.async into the
// next free buffer, RING - 1 loads ahead of the one being used (RING = 3 for head_dim 128, 6 for 64: 48 KB per block),
// so a block keeps 32-48 KB of K/V in flight and the 3 blocks an SM holds (168 registers) stream the cache near memory
// bandwidth. The tensor-core work (4 * 16 * 16 * head_dim flops per 16 keys, padded rows included) is far below their
// rate and the softmax is a few dozen instructions per tile, so bytes in flight are what count.
// Per tile: S = Q K^T (two n-tiles of 8 keys, head_dim / 16 k-steps), scale to log2 units, mask keys past the split,
// online softmax per row in registers (running max m, per-lane partial sum l, O rescaled by 2^(m_old - m_new)), then
// O += P V with P rounded to bf16 straight from the S accumulators (the m16n8 accumulator layout is the m16n8k16 A
// layout). Buffers are XOR-swizzled per 16-byte chunk (chunk c of row r at c ^ (r & 7)) so
// the 8 rows one ldmatrix phase reads fall in distinct banks. At the end the warps merge their (m, l, O) through
// shared memory (reusing the rings) with weights 2^(m_w - max m).
// Split-K (flash-decoding): gridDim.z splits share the context in whole 64-key tiles. With one split the block writes
// the normalized bf16 output; otherwise its unnormalized fp32 accumulator with its max (natural-log units, like
// gqa_attention) and sum. A split or warp left without keys has m = -inf, l = 0, O = 0.
// tokenList (optional) names the tokens to process; without it block x is token x.
// grid: (tokens, kvHeads, splits) - one block takes the whole group (the host refuses groups above 16). block: 128.
// head_dim 64 or 128 (templated; the host refuses others); q's rows 16-byte aligned (row stride a multiple of 8), cache rows too.
// smem: 48 KB static (the rings), under the limit that needs no opt-in.
#include "decode_attention.cuh"

// DYNAMIC_SMEM: the rings in that much dynamic shared memory (the deep kernels) instead of ATT_SMEM_BYTES of static;
// each warp's ring holds as many 16-key tiles as its share of it takes (3 with 48 KB and 4 warps at head_dim 128).
template <bool EARLY, int DYNAMIC_SMEM = 0, int WARPS = ATT_WARPS>
__device__ __forceinline__ void decode_attention_block(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    float* __restrict__ partialOut, float* __restrict__ partialMax, float* __restrict__ partialSum,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
    const int* __restrict__ tokenSeq, const int* __restrict__ tokenContext, const int* __restrict__ tokenList, int heads, int kvHeads, int headDim, int blockSize, float scale)
{
    constexpr int SMEM = DYNAMIC_SMEM > 0 ? DYNAMIC_SMEM : ATT_SMEM_BYTES;
    constexpr int RING128 = SMEM / (WARPS * ATT_KEYS * 128 * 2), RING64 = SMEM / (WARPS * ATT_KEYS * 64 * 2);
    unsigned char* smem;
    if constexpr (DYNAMIC_SMEM > 0)
    {
        extern __shared__ __align__(128) unsigned char dynamicSmem[];
        smem = dynamicSmem;
    }
    else
    {
        __shared__ __align__(128) unsigned char staticSmem[ATT_SMEM_BYTES];
        smem = staticSmem;
    }
    const int t = tokenList == nullptr ? blockIdx.x : tokenList[blockIdx.x];
    const int* table = blockTables + (long long)tokenSeq[t] * maxBlocks;
    const int context = tokenContext[t];
#ifdef ATT_SWEEP_EMPTY // timing only: a launch that waits and does nothing (what the step pays for attention being a launch)
    if (gridDim.z == 1) launch_next_grid(); // at entry, as before the late trigger
    if (EARLY) wait_for_previous_grid();
    return;
#endif
    if (headDim == 128)
        decode_attention_group<128, RING128, EARLY, BlockSync, SMEM, WARPS>(q, qRowStride, out, partialOut, partialMax, partialSum, kCache, vCache, table, t,
            context, heads, kvHeads, blockSize, scale, smem, blockIdx.y, blockIdx.z, gridDim.z, BlockSync{});
    else if (headDim == 64)
        decode_attention_group<64, RING64, EARLY, BlockSync, SMEM, WARPS>(q, qRowStride, out, partialOut, partialMax, partialSum, kCache, vCache, table, t,
            context, heads, kvHeads, blockSize, scale, smem, blockIdx.y, blockIdx.z, gridDim.z, BlockSync{});
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS, 3) decode_attention(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    float* __restrict__ partialOut, float* __restrict__ partialMax, float* __restrict__ partialSum,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
    const int* __restrict__ tokenSeq, const int* __restrict__ tokenContext, const int* __restrict__ tokenList, int heads, int kvHeads, int headDim, int blockSize, float scale)
{
    launch_next_grid_when_split();
    wait_for_previous_grid();
    decode_attention_block<false>(q, qRowStride, out, partialOut, partialMax, partialSum, kCache, vCache, blockTables, maxBlocks, tokenSeq,
        tokenContext, tokenList, heads, kvHeads, headDim, blockSize, scale);
}

// The same, waiting for its predecessor inside (EARLY above): it reads the step's inputs (block tables, contexts, token
// list, written before the step's first kernel) and requests the cache's older keys before it waits.
extern "C" __global__ void __launch_bounds__(ATT_THREADS, 3) decode_attention_early(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    float* __restrict__ partialOut, float* __restrict__ partialMax, float* __restrict__ partialSum,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
    const int* __restrict__ tokenSeq, const int* __restrict__ tokenContext, const int* __restrict__ tokenList, int heads, int kvHeads, int headDim, int blockSize, float scale)
{
    launch_next_grid_when_split();
    decode_attention_block<true>(q, qRowStride, out, partialOut, partialMax, partialSum, kCache, vCache, blockTables, maxBlocks, tokenSeq,
        tokenContext, tokenList, heads, kvHeads, headDim, blockSize, scale);
}

// decode_attention(_early) with deeper rings (ATT_DEEP_SMEM_BYTES of dynamic shared memory, two blocks an SM): more of
// the cache in flight per warp, for long contexts, where one block an SM (a 1.5B token's 2 KV heads in 64 splits) kept
// ~32 KB in flight and streamed the cache at ~1.5 TB/s (run 13).
extern "C" __global__ void __launch_bounds__(ATT_THREADS, 2) decode_attention_deep(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    float* __restrict__ partialOut, float* __restrict__ partialMax, float* __restrict__ partialSum,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
    const int* __restrict__ tokenSeq, const int* __restrict__ tokenContext, const int* __restrict__ tokenList, int heads, int kvHeads, int headDim, int blockSize, float scale)
{
    launch_next_grid_when_split();
    wait_for_previous_grid();
    decode_attention_block<false, ATT_DEEP_SMEM_BYTES>(q, qRowStride, out, partialOut, partialMax, partialSum, kCache, vCache, blockTables, maxBlocks, tokenSeq,
        tokenContext, tokenList, heads, kvHeads, headDim, blockSize, scale);
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS, 2) decode_attention_deep_early(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    float* __restrict__ partialOut, float* __restrict__ partialMax, float* __restrict__ partialSum,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
    const int* __restrict__ tokenSeq, const int* __restrict__ tokenContext, const int* __restrict__ tokenList, int heads, int kvHeads, int headDim, int blockSize, float scale)
{
    launch_next_grid_when_split();
    decode_attention_block<true, ATT_DEEP_SMEM_BYTES>(q, qRowStride, out, partialOut, partialMax, partialSum, kCache, vCache, blockTables, maxBlocks, tokenSeq,
        tokenContext, tokenList, heads, kvHeads, headDim, blockSize, scale);
}

// decode_attention_deep(_early) with 8 warps a block (256 threads, rings of 3 (6) tiles a warp in the same 96 KB), two
// warps a scheduler. The host takes it for deep launches of at most one block an SM (one token's few KV heads over a
// long context): in whole 1.5B steps over 16000-32000 positions it was 1-3% faster than 4 warps, though not alone (run 17).
extern "C" __global__ void __launch_bounds__(2 * ATT_THREADS, 1) decode_attention_deep8(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    float* __restrict__ partialOut, float* __restrict__ partialMax, float* __restrict__ partialSum,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
    const int* __restrict__ tokenSeq, const int* __restrict__ tokenContext, const int* __restrict__ tokenList, int heads, int kvHeads, int headDim, int blockSize, float scale)
{
    launch_next_grid_when_split();
    wait_for_previous_grid();
    decode_attention_block<false, ATT_DEEP_SMEM_BYTES, 8>(q, qRowStride, out, partialOut, partialMax, partialSum, kCache, vCache, blockTables, maxBlocks, tokenSeq,
        tokenContext, tokenList, heads, kvHeads, headDim, blockSize, scale);
}

extern "C" __global__ void __launch_bounds__(2 * ATT_THREADS, 1) decode_attention_deep8_early(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    float* __restrict__ partialOut, float* __restrict__ partialMax, float* __restrict__ partialSum,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
    const int* __restrict__ tokenSeq, const int* __restrict__ tokenContext, const int* __restrict__ tokenList, int heads, int kvHeads, int headDim, int blockSize, float scale)
{
    launch_next_grid_when_split();
    decode_attention_block<true, ATT_DEEP_SMEM_BYTES, 8>(q, qRowStride, out, partialOut, partialMax, partialSum, kCache, vCache, blockTables, maxBlocks, tokenSeq,
        tokenContext, tokenList, heads, kvHeads, headDim, blockSize, scale);
}
