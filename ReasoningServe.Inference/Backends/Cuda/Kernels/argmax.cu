// ids[r] = argmax_j logits[r, j] (fp32 rows of length n; the lowest index wins a tie, like torch.argmax).
// grid: rows, block: 1024.
#include "common.cuh"

extern "C" __global__ void argmax(const float* __restrict__ logits, int n, int* __restrict__ ids)
{
    __shared__ float bestValue[32];
    __shared__ int bestIndex[32];
    const float* row = logits + (long long)blockIdx.x * n;
    float v = -INFINITY;
    int index = 0x7fffffff;
    for (int j = threadIdx.x; j < n; j += blockDim.x)
    {
        float x = row[j];
        if (x > v) { v = x; index = j; }
    }
    for (int o = 16; o > 0; o >>= 1)
    {
        float ov = __shfl_xor_sync(0xffffffffu, v, o);
        int oi = __shfl_xor_sync(0xffffffffu, index, o);
        if (ov > v || (ov == v && oi < index)) { v = ov; index = oi; }
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) { bestValue[warp] = v; bestIndex[warp] = index; }
    __syncthreads();
    if (warp == 0)
    {
        v = lane < (int)(blockDim.x >> 5) ? bestValue[lane] : -INFINITY;
        index = lane < (int)(blockDim.x >> 5) ? bestIndex[lane] : 0x7fffffff;
        for (int o = 16; o > 0; o >>= 1)
        {
            float ov = __shfl_xor_sync(0xffffffffu, v, o);
            int oi = __shfl_xor_sync(0xffffffffu, index, o);
            if (ov > v || (ov == v && oi < index)) { v = ov; index = oi; }
        }
        if (lane == 0) ids[blockIdx.x] = index;
    }
}
