// kCache[slot[t]] = k of token t, vCache[slot[t]] = v (the k and v parts of the fused qkv row). A layer's cache is
// [slots, kvHeads * headDim] with slot = block * blockSize + offset. Negative slots (padding) are skipped.
// grid: tokens, block: 128.
#include "common.cuh"

extern "C" __global__ void kv_write(const bf16* __restrict__ qkv, int rowStride, int kOffset, int kvSize, const int* __restrict__ slots,
    bf16* __restrict__ kCache, bf16* __restrict__ vCache)
{
    launch_next_grid();
    wait_for_previous_grid();
    long long slot = slots[blockIdx.x];
    if (slot < 0) return;
    const bf16* k = qkv + (long long)blockIdx.x * rowStride + kOffset;
    const bf16* v = k + kvSize;
    bf16* kd = kCache + slot * kvSize;
    bf16* vd = vCache + slot * kvSize;
    if ((kvSize & 7) == 0 && (rowStride & 7) == 0 && (kOffset & 7) == 0)
    {
        for (int i = threadIdx.x; i < kvSize / 8; i += blockDim.x)
        {
            ((uint4*)kd)[i] = ((const uint4*)k)[i];
            ((uint4*)vd)[i] = ((const uint4*)v)[i];
        }
    }
    else
    {
        for (int i = threadIdx.x; i < kvSize; i += blockDim.x)
        {
            kd[i] = k[i];
            vd[i] = v[i];
        }
    }
}
