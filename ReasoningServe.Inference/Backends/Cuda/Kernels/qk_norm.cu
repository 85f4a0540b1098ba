// Qwen3: RMSNorm over each head of q and of k, in place in the fused qkv rows [tokens, rowStride] where q heads come
// first, then k heads. grid: (tokens, heads + kvHeads), block: 32 (one warp per head; head_dim <= 1024).
#include "common.cuh"

extern "C" __global__ void qk_norm(bf16* __restrict__ qkv, int rowStride, const bf16* __restrict__ qWeight, const bf16* __restrict__ kWeight,
    int heads, int headDim, float eps)
{
    launch_next_grid();
    wait_for_previous_grid();
    int head = blockIdx.y;
    bf16* x = qkv + (long long)blockIdx.x * rowStride + (long long)head * headDim;
    const bf16* w = head < heads ? qWeight : kWeight;
    float s = 0.f;
    for (int i = threadIdx.x; i < headDim; i += 32)
    {
        float v = __bfloat162float(x[i]);
        s += v * v;
    }
    s = warp_sum(s);
    float scale = rsqrtf(s / headDim + eps);
    for (int i = threadIdx.x; i < headDim; i += 32) x[i] = rms_normalized(__bfloat162float(x[i]), scale, w[i]);
}
