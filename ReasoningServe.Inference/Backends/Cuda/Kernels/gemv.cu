// y[t, o] = sum_k x[t, k] W[o, k] for a few tokens (t < tokens <= MAXT): the decode-time linear layer, which only
// streams W once. cuBLAS' GEMM kernels reach well under the copy bandwidth at these shapes, so the weights go
// through this plain bandwidth-bound loop: each warp owns ROWS output rows, its lanes read 16-byte chunks of them
// (several in flight per lane), multiply with every token's x chunk (x is small and stays in L1/L2), and reduce
// across the warp at the end. fp32 accumulation; bf16 or fp32 output (the logits).
// grid: ceil(n / (ROWS * warps)), block: 256. k must be a multiple of 8.
#include "common.cuh"

#define MAXT 8
#define ROWS 2
#define UNROLL 4

__device__ __forceinline__ void fma8(float& acc, uint4 w, uint4 x)
{
    const __nv_bfloat162* wp = (const __nv_bfloat162*)&w;
    const __nv_bfloat162* xp = (const __nv_bfloat162*)&x;
#pragma unroll
    for (int i = 0; i < 4; i++)
    {
        float2 a = __bfloat1622float2(wp[i]), b = __bfloat1622float2(xp[i]);
        acc = fmaf(a.x, b.x, acc);
        acc = fmaf(a.y, b.y, acc);
    }
}

extern "C" __global__ void __launch_bounds__(256) gemv(const bf16* __restrict__ x, int tokens, const bf16* __restrict__ w, int n, int k,
    void* __restrict__ y, int ldy, int floatOutput)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int row0 = (blockIdx.x * (blockDim.x >> 5) + warp) * ROWS;
    if (row0 >= n) return;
    const int chunks = k / 8;
    const uint4* wr[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; r++) wr[r] = (const uint4*)(w + (long long)min(row0 + r, n - 1) * k);
    float acc[ROWS][MAXT];
#pragma unroll
    for (int r = 0; r < ROWS; r++)
#pragma unroll
        for (int t = 0; t < MAXT; t++) acc[r][t] = 0.f;

    int c = lane;
    for (; c + 32 * (UNROLL - 1) < chunks; c += 32 * UNROLL)
    {
        uint4 wv[UNROLL][ROWS];
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
#pragma unroll
            for (int r = 0; r < ROWS; r++) wv[u][r] = __ldg(wr[r] + c + 32 * u);
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
#pragma unroll
            for (int t = 0; t < MAXT; t++)
            {
                if (t < tokens)
                {
                    uint4 xv = __ldg((const uint4*)(x + (long long)t * k) + c + 32 * u);
#pragma unroll
                    for (int r = 0; r < ROWS; r++) fma8(acc[r][t], wv[u][r], xv);
                }
            }
    }
    for (; c < chunks; c += 32)
    {
        uint4 wv[ROWS];
#pragma unroll
        for (int r = 0; r < ROWS; r++) wv[r] = __ldg(wr[r] + c);
#pragma unroll
        for (int t = 0; t < MAXT; t++)
        {
            if (t < tokens)
            {
                uint4 xv = __ldg((const uint4*)(x + (long long)t * k) + c);
#pragma unroll
                for (int r = 0; r < ROWS; r++) fma8(acc[r][t], wv[r], xv);
            }
        }
    }

#pragma unroll
    for (int r = 0; r < ROWS; r++)
#pragma unroll
        for (int t = 0; t < MAXT; t++)
        {
            if (t < tokens)
            {
                float v = warp_sum(acc[r][t]);
                if (lane == 0 && row0 + r < n)
                {
                    long long at = (long long)t * ldy + row0 + r;
                    if (floatOutput) ((float*)y)[at] = v;
                    else ((bf16*)y)[at] = __float2bfloat16(v);
                }
            }
        }
}
