// attention_combine.cu's merge of one (token, head) row's context splits, in two parts that decode_step.cu's persistent
// one-token step shares: the split weights (one warp) and each element of the merged row. Partials are read through L2
// (ld.global.cg): in decode_step.cu other blocks of the same kernel write them.
#pragma once
#include "common.cuh"

#define MAX_SPLITS 128

// One warp: each split's weight w_s = e^(m_s - M) into weight[s]; returns sum_s w_s l_s to every lane.
__device__ __forceinline__ float combine_weights(const float* __restrict__ partialMax, const float* __restrict__ partialSum, long long row,
    int splits, float* weight)
{
    const int lane = threadIdx.x & 31;
    const float* m = partialMax + row * splits;
    float best = -INFINITY;
    for (int s = lane; s < splits; s += 32) best = fmaxf(best, __ldcg(m + s));
    best = warp_max(best);
    float sum = 0.f;
    for (int s = lane; s < splits; s += 32)
    {
        float w = expf(__ldcg(m + s) - best);
        weight[s] = w;
        sum += w * __ldcg(partialSum + row * splits + s);
    }
    return warp_sum(sum);
}

// Element d of the merged row: sum_s w_s a_s[d] * inverse (1 / the total above), rounded once.
__device__ __forceinline__ bf16 combine_element(const float* __restrict__ partialOut, long long row, int headDim, int splits,
    const float* weight, float inverse, int d)
{
    float o = 0.f;
    for (int s = 0; s < splits; s++) o += weight[s] * __ldcg(partialOut + (row * splits + s) * headDim + d);
    return __float2bfloat16(o * inverse);
}
