// out[t, j] = silu(gate[t, j]) * up[t, j], silu(g) = g / (1 + e^-g), from the fused gate_up rows [tokens, 2 * n]
// (gate first). fp32 math, one rounding.   grid: (ceil(n / 256), tokens), block: 256.
#include "common.cuh"

extern "C" __global__ void silu_mul(const bf16* __restrict__ gateUp, bf16* __restrict__ out, int n)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n) return;
    const bf16* row = gateUp + (long long)blockIdx.y * 2 * n;
    float g = __bfloat162float(row[j]);
    float u = __bfloat162float(row[n + j]);
    out[(long long)blockIdx.y * n + j] = __float2bfloat16(g / (1.f + expf(-g)) * u);
}
