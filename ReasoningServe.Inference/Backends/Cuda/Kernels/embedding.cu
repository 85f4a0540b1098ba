// out[t, :] = table[ids[t], :]      grid: tokens, block: 256
// Also gathers each sequence's last hidden row before the vocabulary projection (table = hidden states).
#include "common.cuh"

extern "C" __global__ void embedding(const bf16* __restrict__ table, const int* __restrict__ ids, bf16* __restrict__ out, int hidden)
{
    launch_next_grid();
    wait_for_previous_grid();
    const bf16* row = table + (long long)ids[blockIdx.x] * hidden;
    bf16* o = out + (long long)blockIdx.x * hidden;
    if ((hidden & 7) == 0)
    {
        for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) ((uint4*)o)[i] = ((const uint4*)row)[i];
    }
    else
    {
        for (int i = threadIdx.x; i < hidden; i += blockDim.x) o[i] = row[i];
    }
}
