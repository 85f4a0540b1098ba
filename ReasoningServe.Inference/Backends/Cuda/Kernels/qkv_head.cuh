// One warp finishes one head of a fused qkv row [q heads | k heads | v heads], as qkv_finish.cu describes: the projection
// bias (b may be null), then for q and k heads the per-head RMSNorm (w may be null) and neox RoPE at pos. Rounding as
// HF: bf16 after the bias, after the norm's scaling and its weight, after the rotation. Every value is read before any
// is stored, so store may write over x. Shared by qkv_finish.cu and decode_attention.cu, which finishes its own heads
// when a decode step skips qkv_finish.
#pragma once
#include "common.cuh"

#define MAX_PAIRS_PER_LANE 4 // head_dim at most 256

// Lane l takes the pairs (i, i + d/2), i = l + 32p; store(i, y_i, y_i+d/2) receives the finished pair.
template <class Store>
__device__ __forceinline__ void finish_rotary_head(const bf16* x, const bf16* b, const bf16* w, float eps, float pos,
    const float* __restrict__ invFreq, int headDim, int lane, Store store)
{
    const int half = headDim / 2;
    float lo[MAX_PAIRS_PER_LANE], hi[MAX_PAIRS_PER_LANE], sumsq = 0.f;
#pragma unroll
    for (int p = 0; p < MAX_PAIRS_PER_LANE; p++)
    {
        int i = lane + 32 * p;
        if (i < half)
        {
            float a = __bfloat162float(x[i]), c = __bfloat162float(x[i + half]);
            if (b != nullptr)
            {
                a = __bfloat162float(__float2bfloat16(a + __bfloat162float(b[i])));
                c = __bfloat162float(__float2bfloat16(c + __bfloat162float(b[i + half])));
            }
            lo[p] = a;
            hi[p] = c;
            sumsq += a * a + c * c;
        }
    }
    if (w != nullptr)
    {
        float scale = rsqrtf(warp_sum(sumsq) / headDim + eps);
#pragma unroll
        for (int p = 0; p < MAX_PAIRS_PER_LANE; p++)
        {
            int i = lane + 32 * p;
            if (i < half)
            {
                lo[p] = __bfloat162float(rms_normalized(lo[p], scale, w[i]));
                hi[p] = __bfloat162float(rms_normalized(hi[p], scale, w[i + half]));
            }
        }
    }
#pragma unroll
    for (int p = 0; p < MAX_PAIRS_PER_LANE; p++)
    {
        int i = lane + 32 * p;
        if (i < half)
        {
            float s, c;
            sincosf(pos * invFreq[i], &s, &c);
            store(i, __float2bfloat16(lo[p] * c - hi[p] * s), __float2bfloat16(hi[p] * c + lo[p] * s));
        }
    }
}

// A v head: only the bias. store(i, v_i).
template <class Store>
__device__ __forceinline__ void finish_value_head(const bf16* x, const bf16* b, int headDim, int lane, Store store)
{
    for (int i = lane; i < headDim; i += 32)
        store(i, b == nullptr ? x[i] : __float2bfloat16(__bfloat162float(x[i]) + __bfloat162float(b[i])));
}
