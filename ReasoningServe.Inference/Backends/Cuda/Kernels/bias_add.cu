// y[t, j] += b[j] for j < n, rows of stride rowStride.   grid: tokens, block: 256.
#include "common.cuh"

extern "C" __global__ void bias_add(bf16* __restrict__ y, int rowStride, const bf16* __restrict__ b, int n)
{
    launch_next_grid();
    wait_for_previous_grid();
    bf16* row = y + (long long)blockIdx.x * rowStride;
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        row[j] = __float2bfloat16(__bfloat162float(row[j]) + __bfloat162float(b[j]));
}
