// Everything between the qkv projection and attention, in one pass over each fused qkv row [q heads | k heads | v heads]
// (one launch instead of four): the projection bias (Qwen2), the per-head RMSNorm of q and k (Qwen3), neox RoPE on q
// and k, and the K and V rows written to their cache slot. Rounding follows the separate steps (and HF): bf16 after the
// bias, after the norm's scaling and its weight, after the rotation.
//   x = bf16(x + b);  x = bf16(bf16(x * rsqrt(mean(x^2) + eps)) * w);  (x_i, x_i+d/2) rotated by pos * inv_freq[i]
// q rows stay in place for attention; k and v also go to kCache/vCache[slot] (a negative slot is padding: skipped).
// grid: (tokens, head groups), block: 128 (one warp per head; head_dim even, at most 256). Warps stride over the heads,
// so any number of head groups is correct; one warp per head keeps a one-token decode step from running its 36 heads
// through 4 warps in turn.
#include "common.cuh"

#define MAX_PAIRS_PER_LANE 4

extern "C" __global__ void qkv_finish(bf16* __restrict__ qkv, int rowStride, const bf16* __restrict__ bias,
    const bf16* __restrict__ qNormWeight, const bf16* __restrict__ kNormWeight, float eps,
    const int* __restrict__ positions, const float* __restrict__ invFreq, const int* __restrict__ slots,
    bf16* __restrict__ kCache, bf16* __restrict__ vCache, int heads, int kvHeads, int headDim)
{
    launch_next_grid();
    wait_for_previous_grid();
    const int t = blockIdx.x, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, half = headDim / 2;
    bf16* row = qkv + (long long)t * rowStride;
    const long long slot = slots[t];
    const float pos = (float)positions[t];
    const int kvSize = kvHeads * headDim;
    const int warps = blockDim.x >> 5;
    for (int head = blockIdx.y * warps + warp; head < heads + 2 * kvHeads; head += gridDim.y * warps)
    {
        bf16* x = row + head * headDim;
        const bf16* b = bias == nullptr ? nullptr : bias + head * headDim;
        if (head >= heads + kvHeads)
        {
            bf16* v = vCache + slot * kvSize + (head - heads - kvHeads) * headDim;
            for (int i = lane; i < headDim; i += 32)
            {
                bf16 value = b == nullptr ? x[i] : __float2bfloat16(__bfloat162float(x[i]) + __bfloat162float(b[i]));
                x[i] = value;
                if (slot >= 0) v[i] = value;
            }
            continue;
        }
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
        const bf16* w = head < heads ? qNormWeight : kNormWeight;
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
        bf16* k = head >= heads && slot >= 0 ? kCache + slot * kvSize + (head - heads) * headDim : nullptr;
#pragma unroll
        for (int p = 0; p < MAX_PAIRS_PER_LANE; p++)
        {
            int i = lane + 32 * p;
            if (i < half)
            {
                float s, c;
                sincosf(pos * invFreq[i], &s, &c);
                bf16 y1 = __float2bfloat16(lo[p] * c - hi[p] * s), y2 = __float2bfloat16(hi[p] * c + lo[p] * s);
                x[i] = y1;
                x[i + half] = y2;
                if (k != nullptr) { k[i] = y1; k[i + half] = y2; }
            }
        }
    }
}
