// RoPE, neox / rotate_half layout, in place on the q and k heads of the fused qkv rows (the first heads + kvHeads
// heads of each row). inv_freq comes from the host (llama3 scaling applied there); angles in fp32 with accurate sincos.
//   a = pos * inv_freq[i];  y[i] = x[i] cos a - x[i+d/2] sin a;  y[i+d/2] = x[i+d/2] cos a + x[i] sin a
// grid: tokens, block: 128.
#include "common.cuh"

extern "C" __global__ void rope(bf16* __restrict__ qkv, int rowStride, const int* __restrict__ positions, const float* __restrict__ invFreq,
    int totalHeads, int headDim)
{
    launch_next_grid();
    wait_for_previous_grid();
    int half = headDim / 2;
    float pos = (float)positions[blockIdx.x];
    bf16* row = qkv + (long long)blockIdx.x * rowStride;
    for (int k = threadIdx.x; k < totalHeads * half; k += blockDim.x)
    {
        int head = k / half, i = k - head * half;
        float s, c;
        sincosf(pos * invFreq[i], &s, &c);
        bf16* x = row + head * headDim;
        float x1 = __bfloat162float(x[i]), x2 = __bfloat162float(x[i + half]);
        x[i] = __float2bfloat16(x1 * c - x2 * s);
        x[i + half] = __float2bfloat16(x2 * c + x1 * s);
    }
}
