// y = bf16(bf16(x * rsqrt(mean(x^2) + eps)) * w), fp32 statistics (HF's Qwen2RMSNorm rounding order).
// add_rmsnorm first folds the previous sub-layer's output into the residual stream (kept in bf16, as HF keeps it):
//   residual = bf16(residual + delta);  out = rmsnorm(residual)
// grid: rows, block: 256 (a multiple of 32). Each thread reads back only the elements it wrote itself.
#include "common.cuh"

__device__ __forceinline__ void normalize_row(const bf16* x, const bf16* __restrict__ w, bf16* out, int n, float sumsq, float eps)
{
    float scale = rsqrtf(sumsq / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x)
    {
        float normed = __bfloat162float(__float2bfloat16(__bfloat162float(x[i]) * scale));
        out[i] = __float2bfloat16(normed * __bfloat162float(w[i]));
    }
}

extern "C" __global__ void rmsnorm(const bf16* __restrict__ x, const bf16* __restrict__ w, bf16* __restrict__ out, int n, float eps)
{
    __shared__ float scratch[32];
    const bf16* xr = x + (long long)blockIdx.x * n;
    float s = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
    {
        float v = __bfloat162float(xr[i]);
        s += v * v;
    }
    s = block_sum(s, scratch);
    normalize_row(xr, w, out + (long long)blockIdx.x * n, n, s, eps);
}

extern "C" __global__ void add_rmsnorm(bf16* __restrict__ residual, const bf16* __restrict__ delta, const bf16* __restrict__ w,
    bf16* __restrict__ out, int n, float eps)
{
    __shared__ float scratch[32];
    bf16* r = residual + (long long)blockIdx.x * n;
    const bf16* d = delta + (long long)blockIdx.x * n;
    float s = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
    {
        bf16 sum = __float2bfloat16(__bfloat162float(r[i]) + __bfloat162float(d[i]));
        r[i] = sum;
        float v = __bfloat162float(sum);
        s += v * v;
    }
    s = block_sum(s, scratch);
    normalize_row(r, w, out + (long long)blockIdx.x * n, n, s, eps);
}
