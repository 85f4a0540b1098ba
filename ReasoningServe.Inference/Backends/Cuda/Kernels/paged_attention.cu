// Causal grouped-query attention of each new token over its sequence's paged context (prefill chunks, prefix-cache
// hits and decode share it; the new tokens' K/V are already in the cache):
//   s_j = (q_h . k_{g,j}) / sqrt(d) for j < ctx[t];  o_h = sum_j softmax(s)_j v_{g,j};  g = h / (heads / kvHeads)
// Context position j lives in slot blockTable[j / blockSize] * blockSize + j % blockSize.
// One block per (token, head), TILE threads: each tile of TILE keys gets one score per thread, then an online-softmax
// update (running max m, running sum l, fp32 accumulator rescaled by e^(m_old - m_new)); each thread owns the output
// dimensions d = tid, tid + TILE (head_dim <= 2 * TILE).
// grid: (tokens, heads), block: TILE.
#include "common.cuh"

#define TILE 128

extern "C" __global__ void __launch_bounds__(TILE) paged_attention(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
    const int* __restrict__ tokenSeq, const int* __restrict__ tokenContext, int heads, int kvHeads, int headDim, int blockSize, float scale)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ float qs[2 * TILE];
    __shared__ float probs[TILE];
    __shared__ long long slots[TILE];
    __shared__ float scratch[32];

    int t = blockIdx.x, h = blockIdx.y, tid = threadIdx.x;
    int g = h / (heads / kvHeads);
    int kvStride = kvHeads * headDim;
    const bf16* qh = q + (long long)t * qRowStride + (long long)h * headDim;
    for (int i = tid; i < headDim; i += TILE) qs[i] = __bfloat162float(qh[i]) * scale;
    int context = tokenContext[t];
    const int* table = blockTables + (long long)tokenSeq[t] * maxBlocks;
    __syncthreads();

    float m = -INFINITY, l = 0.f, acc0 = 0.f, acc1 = 0.f;
    for (int j0 = 0; j0 < context; j0 += TILE)
    {
        int j = j0 + tid;
        float s = -INFINITY;
        if (j < context)
        {
            long long slot = (long long)table[j / blockSize] * blockSize + j % blockSize;
            slots[tid] = slot;
            const bf16* k = kCache + slot * kvStride + (long long)g * headDim;
            float dot = 0.f;
            if ((headDim & 7) == 0)
            {
                for (int i = 0; i < headDim; i += 8)
                {
                    uint4 packed = *(const uint4*)(k + i);
                    const __nv_bfloat162* pairs = (const __nv_bfloat162*)&packed;
#pragma unroll
                    for (int p = 0; p < 4; p++)
                    {
                        float2 kv = __bfloat1622float2(pairs[p]);
                        dot += qs[i + 2 * p] * kv.x + qs[i + 2 * p + 1] * kv.y;
                    }
                }
            }
            else
            {
                for (int i = 0; i < headDim; i++) dot += qs[i] * __bfloat162float(k[i]);
            }
            s = dot;
        }
        float mNew = fmaxf(m, block_max(s, scratch));
        float p = j < context ? expf(s - mNew) : 0.f;
        probs[tid] = p;
        float correction = expf(m - mNew);
        l = l * correction + block_sum(p, scratch);
        m = mNew;

        int n = min(TILE, context - j0);
        acc0 *= correction;
        acc1 *= correction;
        const bf16* vBase = vCache + (long long)g * headDim;
        for (int jj = 0; jj < n; jj++)
        {
            const bf16* v = vBase + slots[jj] * kvStride;
            float pj = probs[jj];
            if (tid < headDim) acc0 += pj * __bfloat162float(v[tid]);
            if (tid + TILE < headDim) acc1 += pj * __bfloat162float(v[tid + TILE]);
        }
        __syncthreads();
    }

    bf16* o = out + ((long long)t * heads + h) * headDim;
    float inverse = 1.f / l;
    if (tid < headDim) o[tid] = __float2bfloat16(acc0 * inverse);
    if (tid + TILE < headDim) o[tid + TILE] = __float2bfloat16(acc1 * inverse);
}
