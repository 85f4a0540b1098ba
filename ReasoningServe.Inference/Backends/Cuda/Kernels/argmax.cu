// ids[r] = argmax_j logits[r, j] (fp32 rows of length n; the lowest index wins a tie, like torch.argmax).
// One block per row: each thread keeps 4 float4 loads in flight (16 values per memory round trip), since a loop of single
// loads made a 152k-entry row cost ~50 us of latency on an H200 whatever the model. Rows whose length is not a multiple
// of 4 are not 16-byte aligned and take the scalar loop.   grid: rows, block: 1024.
#include "common.cuh"

// better() orders by value, then by the lower index, so the visiting order does not matter
__device__ __forceinline__ void take(float x, int j, float& v, int& index)
{
    if (better(x, j, v, index)) { v = x; index = j; }
}

__device__ __forceinline__ void take4(float4 x, int j4, float& v, int& index)
{
    take(x.x, 4 * j4, v, index);
    take(x.y, 4 * j4 + 1, v, index);
    take(x.z, 4 * j4 + 2, v, index);
    take(x.w, 4 * j4 + 3, v, index);
}

extern "C" __global__ void argmax(const float* __restrict__ logits, int n, int* __restrict__ ids)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ float bestValue[32];
    __shared__ int bestIndex[32];
    const float* row = logits + (long long)blockIdx.x * n;
    const int stride = blockDim.x;
    float v = -INFINITY;
    int index = 0x7fffffff;
    if ((n & 3) == 0)
    {
        const float4* row4 = (const float4*)row;
        const int n4 = n >> 2;
        int j = threadIdx.x;
        for (; j + 3 * stride < n4; j += 4 * stride)
        {
            float4 a = __ldg(row4 + j), b = __ldg(row4 + j + stride), c = __ldg(row4 + j + 2 * stride), d = __ldg(row4 + j + 3 * stride);
            take4(a, j, v, index);
            take4(b, j + stride, v, index);
            take4(c, j + 2 * stride, v, index);
            take4(d, j + 3 * stride, v, index);
        }
        for (; j < n4; j += stride) take4(__ldg(row4 + j), j, v, index);
    }
    else
    {
        for (int j = threadIdx.x; j < n; j += stride) take(row[j], j, v, index);
    }
    block_best(v, index, bestValue, bestIndex);
    if (threadIdx.x == 0) ids[blockIdx.x] = index;
}
