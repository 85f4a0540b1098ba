// attention_combine.cu's merge of one (token, head) row's context splits, in two parts that decode_step.cu's persistent
// one-token step shares: the split weights (one warp) and each element of the merged row. Partials are read through L2
// (ld.global.cg): in decode_step.cu other blocks of the same kernel write them.
#pragma once
#include "common.cuh"

#define MAX_SPLITS 128

// One warp: each split's weight w_s = e^(m_s - M) into weight[s]; returns sum_s w_s l_s to every lane. A lane's maxima
// and sums (splits lane, lane + 32, ...) are all requested before any is used: a loop that used each as it came waited
// on one L2 round trip per 32 splits, twice. The arithmetic and its order are the loop's.
__device__ __forceinline__ float combine_weights(const float* __restrict__ partialMax, const float* __restrict__ partialSum, long long row,
    int splits, float* weight)
{
    constexpr int PER_LANE = MAX_SPLITS / 32;
    const int lane = threadIdx.x & 31;
    const float* m = partialMax + row * splits;
    const float* l = partialSum + row * splits;
    float mv[PER_LANE], lv[PER_LANE];
#pragma unroll
    for (int i = 0; i < PER_LANE; i++)
    {
        const int s = lane + 32 * i;
        mv[i] = s < splits ? __ldcg(m + s) : -INFINITY;
        lv[i] = s < splits ? __ldcg(l + s) : 0.f;
    }
    float best = -INFINITY;
#pragma unroll
    for (int i = 0; i < PER_LANE; i++) best = fmaxf(best, mv[i]);
    best = warp_max(best);
    float sum = 0.f;
#pragma unroll
    for (int i = 0; i < PER_LANE; i++)
    {
        const int s = lane + 32 * i;
        if (s < splits)
        {
            float w = expf(mv[i] - best);
            weight[s] = w;
            sum += w * lv[i];
        }
    }
    return warp_sum(sum);
}

// Element d of the merged row: sum_s w_s a_s[d] * inverse (1 / the total above), rounded once, the splits added in
// order. Their partials are requested COMBINE_BATCH at a time ahead of the sums, so a row of 32-64 splits waits on a few
// L2 round trips rather than on one per few splits (run 12: a 1.5B step at 4096 positions was slower in 64 splits than
// in 32, and one 7B token over 32768 positions streamed the cache at half the rate of 64 tokens over 1024 in one split).
// Batched, 1.5B steps at 1024 / 32000 positions took 1.7 / 2.8% less and 7B steps 0.3-0.8 / 1.0-1.4% (run 16, one machine).
#define COMBINE_BATCH 16
__device__ __forceinline__ bf16 combine_element(const float* __restrict__ partialOut, long long row, int headDim, int splits,
    const float* weight, float inverse, int d)
{
    const float* p = partialOut + row * splits * headDim + d;
    float o = 0.f;
    for (int s0 = 0; s0 < splits; s0 += COMBINE_BATCH)
    {
        float a[COMBINE_BATCH];
#pragma unroll
        for (int j = 0; j < COMBINE_BATCH; j++) a[j] = s0 + j < splits ? __ldcg(p + (long long)(s0 + j) * headDim) : 0.f;
#pragma unroll
        for (int j = 0; j < COMBINE_BATCH; j++)
            if (s0 + j < splits) o += weight[s0 + j] * a[j];
    }
    return __float2bfloat16(o * inverse);
}
