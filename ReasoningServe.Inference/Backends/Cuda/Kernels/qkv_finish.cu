// Everything between the qkv projection and attention, in one pass over each fused qkv row [q heads | k heads | v heads]
// (one launch instead of four): the projection bias (Qwen2), the per-head RMSNorm of q and k (Qwen3), neox RoPE on q
// and k, and the K and V rows written to their cache slot. Rounding follows the separate steps (and HF): bf16 after the
// bias, after the norm's scaling and its weight, after the rotation.
//   x = bf16(x + b);  x = bf16(bf16(x * rsqrt(mean(x^2) + eps)) * w);  (x_i, x_i+d/2) rotated by pos * inv_freq[i]
// q rows stay in place for attention; k and v also go to kCache/vCache[slot] (a negative slot is padding: skipped).
// grid: (tokens, head groups), block: 128 (one warp per head; head_dim even, at most 256). Warps stride over the heads,
// so any number of head groups is correct; one warp per head keeps a one-token decode step from running its 36 heads
// through 4 warps in turn.
#include "qkv_head.cuh"

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
            bf16* v = slot >= 0 ? vCache + slot * kvSize + (head - heads - kvHeads) * headDim : nullptr;
            finish_value_head(x, b, headDim, lane, [&](int i, bf16 value)
            {
                x[i] = value;
                if (v != nullptr) v[i] = value;
            });
            continue;
        }
        bf16* k = head >= heads && slot >= 0 ? kCache + slot * kvSize + (head - heads) * headDim : nullptr;
        finish_rotary_head(x, b, head < heads ? qNormWeight : kNormWeight, eps, pos, invFreq, headDim, lane, [&](int i, bf16 y1, bf16 y2)
        {
            x[i] = y1;
            x[i + half] = y2;
            if (k != nullptr) { k[i] = y1; k[i + half] = y2; }
        });
    }
}
