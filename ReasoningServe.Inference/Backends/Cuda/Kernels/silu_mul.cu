// out[t, j] = silu(gate[t, j]) * up[t, j], silu(g) = g / (1 + e^-g), from the fused gate_up rows [tokens, 2 * n]
// (gate first). fp32 math, one rounding. Each thread takes 8 neighbouring values, as one 16-byte load of gate and of up
// where n is a multiple of 8 (every real model's), so a prefill's gate_up streams at full width.
// grid: (ceil(n / 2048), tokens), block: 256.
#include "common.cuh"

#define PER_THREAD 8

extern "C" __global__ void silu_mul(const bf16* __restrict__ gateUp, bf16* __restrict__ out, int n)
{
    launch_next_grid();
    wait_for_previous_grid();
    int j0 = (blockIdx.x * blockDim.x + threadIdx.x) * PER_THREAD;
    if (j0 >= n) return;
    const bf16* row = gateUp + (long long)blockIdx.y * 2 * n;
    bf16* o = out + (long long)blockIdx.y * n;
    if ((n & (PER_THREAD - 1)) == 0)
    {
        uint4 g = __ldg((const uint4*)(row + j0)), u = __ldg((const uint4*)(row + n + j0)), r;
        const bf16 *gp = (const bf16*)&g, *up = (const bf16*)&u;
        bf16* rp = (bf16*)&r;
#pragma unroll
        for (int i = 0; i < PER_THREAD; i++) rp[i] = silu_times(gp[i], up[i]);
        *(uint4*)(o + j0) = r;
        return;
    }
    for (int j = j0; j < min(j0 + PER_THREAD, n); j++) o[j] = silu_times(row[j], row[n + j]);
}
