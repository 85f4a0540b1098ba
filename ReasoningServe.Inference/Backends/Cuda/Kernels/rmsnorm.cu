// y = bf16(bf16(x * rsqrt(mean(x^2) + eps)) * w), fp32 statistics (HF's Qwen2RMSNorm rounding order).
// add_rmsnorm first folds the previous sub-layer's output into the residual stream (kept in bf16, as HF keeps it):
//   residual = bf16(residual + delta);  out = rmsnorm(residual)
// Rows of up to 256 * 32 values whose length is a multiple of 8 (every real hidden size) stay in registers between the
// two passes, read as 16-byte chunks that are all in flight at once, the weight's with them: a decode step's one-row
// norm is then one memory round trip and the writes, where a loop of 2-byte loads made it ~14 dependent ones. Other
// rows take the scalar loop.
// grid: rows, block: 256 (a multiple of 32). Each thread reads back only the elements it wrote itself.
#include "common.cuh"

#define BLOCK 256
#define CHUNKS_PER_THREAD 4

__device__ __forceinline__ bool fits_registers(int n) { return (n & 7) == 0 && n <= BLOCK * CHUNKS_PER_THREAD * 8; }

// The row in 16-byte chunks, chunk c = threadIdx.x + j * BLOCK in v[j]; with delta, residual + delta is written back.
__device__ __forceinline__ void norm_row_registers(bf16* r, const bf16* __restrict__ delta, const bf16* __restrict__ w, bf16* __restrict__ out,
    int n, float eps, float* scratch)
{
    const int chunks = n / 8;
    uint4 v[CHUNKS_PER_THREAD], wv[CHUNKS_PER_THREAD];
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < CHUNKS_PER_THREAD; j++)
    {
        int c = threadIdx.x + j * BLOCK;
        if (c < chunks)
        {
            wv[j] = __ldg((const uint4*)w + c); // with the row, not after the block's sum: no third round trip
            v[j] = ((const uint4*)r)[c];
            if (delta != nullptr)
            {
                v[j] = add_residual8(v[j], __ldg((const uint4*)delta + c));
                ((uint4*)r)[c] = v[j];
            }
            add_squares8(s, v[j]);
        }
    }
    float scale = rsqrtf(block_sum(s, scratch) / n + eps);
#pragma unroll
    for (int j = 0; j < CHUNKS_PER_THREAD; j++)
    {
        int c = threadIdx.x + j * BLOCK;
        if (c < chunks) ((uint4*)out)[c] = rms_normalized8(v[j], scale, wv[j]);
    }
}

// Any row, one value at a time, in two passes (residual + delta written back first when there is a delta).
__device__ __forceinline__ void norm_row_scalar(bf16* r, const bf16* __restrict__ delta, const bf16* __restrict__ w, bf16* __restrict__ out,
    int n, float eps, float* scratch)
{
    float s = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
    {
        bf16 sum = delta == nullptr ? r[i] : __float2bfloat16(__bfloat162float(r[i]) + __bfloat162float(delta[i]));
        if (delta != nullptr) r[i] = sum;
        float v = __bfloat162float(sum);
        s += v * v;
    }
    float scale = rsqrtf(block_sum(s, scratch) / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = rms_normalized(__bfloat162float(r[i]), scale, w[i]);
}

// One row: rmsnorm(r + delta), or rmsnorm(r) with a null delta (then r is only read).
__device__ __forceinline__ void norm_row(bf16* r, const bf16* __restrict__ delta, const bf16* __restrict__ w, bf16* __restrict__ out, int n,
    float eps, float* scratch)
{
    if (fits_registers(n)) norm_row_registers(r, delta, w, out, n, eps, scratch);
    else norm_row_scalar(r, delta, w, out, n, eps, scratch);
}

extern "C" __global__ void __launch_bounds__(BLOCK) rmsnorm(const bf16* __restrict__ x, const bf16* __restrict__ w, bf16* __restrict__ out, int n, float eps)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ float scratch[32];
    long long row = (long long)blockIdx.x * n;
    norm_row(const_cast<bf16*>(x + row), nullptr, w, out + row, n, eps, scratch);
}

extern "C" __global__ void __launch_bounds__(BLOCK) add_rmsnorm(bf16* __restrict__ residual, const bf16* __restrict__ delta, const bf16* __restrict__ w,
    bf16* __restrict__ out, int n, float eps)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ float scratch[32];
    long long row = (long long)blockIdx.x * n;
    norm_row(residual + row, delta + row, w, out + row, n, eps, scratch);
}
