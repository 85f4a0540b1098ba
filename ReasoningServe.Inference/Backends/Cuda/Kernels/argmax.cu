// ids[r] = argmax_j logits[r, j] (fp32 rows of length n; the lowest index wins a tie, like torch.argmax).
// One block per row: each thread keeps 4 float4 loads in flight (16 values per memory round trip), since a loop of single
// loads made a 152k-entry row cost ~50 us of latency on an H200 whatever the model. Rows whose length is not a multiple
// of 4 are not 16-byte aligned and take the scalar loop.   grid: rows, block: 1024.
// A few rows (ArgMax.SlicedMaxRows) take the sliced form instead: argmax_slices, each of a row's slices (a block of 256
// threads) with its entries requested at once, then argmax_merge over the slices' answers. One block still waited on
// ~10 round trips for a 152k-entry row: argmax ended 9.5 us after the lm_head in a 1.5B step on the H200 (run 20).
#include "common.cuh"

#define SLICE_THREADS 256
#define SLICE_PER_THREAD 16 // a slice holds at most SLICE_THREADS * SLICE_PER_THREAD entries (ArgMax.SliceEntries)

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

// best[row][slice] = (value bits, index) of the slice's argmax. grid: (rows, slices), block: SLICE_THREADS;
// slices * SLICE_THREADS * SLICE_PER_THREAD >= n.
extern "C" __global__ void __launch_bounds__(SLICE_THREADS) argmax_slices(const float* __restrict__ logits, int n, int2* __restrict__ best)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ float bestValue[32];
    __shared__ int bestIndex[32];
    const float* row = logits + (long long)blockIdx.x * n;
    const int length = (n + gridDim.y - 1) / gridDim.y, begin = blockIdx.y * length, end = min(n, begin + length);
    float x[SLICE_PER_THREAD];
#pragma unroll
    for (int j = 0; j < SLICE_PER_THREAD; j++)
    {
        const int i = begin + threadIdx.x + j * SLICE_THREADS;
        x[j] = i < end ? row[i] : -INFINITY;
    }
    float v = -INFINITY;
    int index = 0x7fffffff;
#pragma unroll
    for (int j = 0; j < SLICE_PER_THREAD; j++)
    {
        const int i = begin + threadIdx.x + j * SLICE_THREADS;
        if (i < end) take(x[j], i, v, index);
    }
    block_best(v, index, bestValue, bestIndex);
    if (threadIdx.x == 0) best[blockIdx.x * gridDim.y + blockIdx.y] = make_int2(__float_as_int(v), index);
}

// ids[r] = the best of row r's slices' answers (better() orders them as it does entries). grid: rows, block: a multiple
// of 32 of at least the slices.
extern "C" __global__ void argmax_merge(const int2* __restrict__ best, int slices, int* __restrict__ ids)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ float bestValue[32];
    __shared__ int bestIndex[32];
    float v = -INFINITY;
    int index = 0x7fffffff;
    if (threadIdx.x < slices)
    {
        const int2 b = best[blockIdx.x * slices + threadIdx.x];
        v = __int_as_float(b.x);
        index = b.y;
    }
    block_best(v, index, bestValue, bestIndex);
    if (threadIdx.x == 0) ids[blockIdx.x] = index;
}
