// y[t, o] = sum_k x[t, k] W[o, k] for a few tokens (t < tokens <= MAXT): the decode-time linear layer, which only
// streams W once. The block first builds its input x for a slab of k in shared memory (all tokens, SLAB_CHUNKS 16-byte
// chunks in all), then each warp streams R weight rows over that slab, U 16-byte loads per row and lane in flight, and
// multiplies them with every token's x chunk from shared memory; the warp reduces at the end. fp32 accumulation; bf16
// or fp32 output (the logits). k must be a multiple of 8. grid: ceil(n / (R * 8)), block: 256.
// Three entry points differ only in how an x chunk is built, once per block and slab (building it next to every
// weight chunk, as the first version did, cost more than streaming the weights at 8 tokens):
//   gemv          x as given                                                      R = ROWS,      U = UNROLL
//   gemv_rmsnorm  x = rmsnorm(residual + delta) * w, rounded as rmsnorm.cu rounds   R = NORM_ROWS, U = NORM_UNROLL
//                 (bf16 sum, bf16 after the scaling and after the weight); each block finds the per-token scales
//                 itself, block 0 also writes the new residual to residualOut (another buffer: other blocks still read
//                 the old one). delta may be null.
//   gemv_silu     x = silu(gate) * up from the fused gate_up rows [tokens, 2k],     R = SILU_ROWS, U = SILU_UNROLL
//                 rounded once as silu_mul.cu does.
// A block's input costs L2 reads in proportion to k whatever its rows (the norm's: its sums of squares, then residual,
// delta and weight per chunk), so the fused forms take more rows per block than the plain one to keep that small next
// to the weights they stream. The plain form's ROWS and UNROLL are the H200 sweep's best for one token; the fused forms'
// were chosen by that reasoning and measured only as whole decode steps (docs/benchmarks/cuda-h200.md). Gemm.cs's rows
// per block must match them.
#include "common.cuh"

// The backend's build; tools/cuda-check's gemv sweep compiles others with -D to compare them.
#ifndef MAXT
#define MAXT 1
#endif
#ifndef ROWS
#define ROWS 1
#endif
#ifndef UNROLL
#define UNROLL 8
#endif
#ifndef NORM_ROWS
#define NORM_ROWS 4
#endif
#ifndef NORM_UNROLL
#define NORM_UNROLL 4
#endif
#ifndef SILU_ROWS
#define SILU_ROWS 2
#endif
#ifndef SILU_UNROLL
#define SILU_UNROLL 8
#endif
// A slab of 2432 chunks (the 7B down projection's whole row) streamed no faster on the H200 (3.40 vs 3.41 TB/s).
#ifndef SLAB_CHUNKS
#define SLAB_CHUNKS 2048
#endif

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

struct PlainInput
{
    const bf16* x;
    int k;
    __device__ __forceinline__ uint4 load(int t, int c) const { return __ldg((const uint4*)(x + (long long)t * k) + c); }
};

struct NormInput
{
    const bf16* residual;
    const bf16* delta;
    const bf16* w;
    const float* scale; // per token, in shared memory
    int k;
    __device__ __forceinline__ uint4 load(int t, int c) const
    {
        uint4 r = __ldg((const uint4*)(residual + (long long)t * k) + c), wv = __ldg((const uint4*)w + c), out;
        uint4 d = delta == nullptr ? make_uint4(0, 0, 0, 0) : __ldg((const uint4*)(delta + (long long)t * k) + c);
        const bf16 *rp = (const bf16*)&r, *dp = (const bf16*)&d, *wp = (const bf16*)&wv;
        bf16* op = (bf16*)&out;
#pragma unroll
        for (int i = 0; i < 8; i++)
        {
            float sum = delta == nullptr ? __bfloat162float(rp[i]) : __bfloat162float(__float2bfloat16(__bfloat162float(rp[i]) + __bfloat162float(dp[i])));
            op[i] = rms_normalized(sum, scale[t], wp[i]);
        }
        return out;
    }
};

struct SiluInput
{
    const bf16* gateUp;
    int k;
    __device__ __forceinline__ uint4 load(int t, int c) const
    {
        const bf16* row = gateUp + (long long)t * 2 * k;
        uint4 g = __ldg((const uint4*)row + c), u = __ldg((const uint4*)(row + k) + c), out;
        const bf16 *gp = (const bf16*)&g, *up = (const bf16*)&u;
        bf16* op = (bf16*)&out;
#pragma unroll
        for (int i = 0; i < 8; i++) op[i] = silu_times(gp[i], up[i]);
        return out;
    }
};

template <int R, int U, class Input>
__device__ __forceinline__ void gemv_rows(const Input& in, int tokens, const bf16* __restrict__ w, int n, int k, void* __restrict__ y, int ldy,
    int floatOutput)
{
    __shared__ uint4 xs[SLAB_CHUNKS];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int row0 = (blockIdx.x * (blockDim.x >> 5) + warp) * R;
    const int chunks = k / 8, slab = SLAB_CHUNKS / max(tokens, 1);
    // rows past n read row n - 1 and write nothing: every thread stays for the block's barriers
    const uint4* wr[R];
#pragma unroll
    for (int r = 0; r < R; r++) wr[r] = (const uint4*)(w + (long long)min(row0 + r, n - 1) * k);
    float acc[R][MAXT];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < MAXT; t++) acc[r][t] = 0.f;

    for (int c0 = 0; c0 < chunks; c0 += slab)
    {
        const int count = min(slab, chunks - c0);
        __syncthreads(); // the previous slab is consumed
#pragma unroll 4
        for (int i = threadIdx.x; i < tokens * count; i += blockDim.x)
        {
            int t = i / count, j = i - t * count;
            xs[i] = in.load(t, c0 + j);
        }
        __syncthreads();
        for (int j = lane; j < count; j += 32 * U)
        {
            uint4 wv[U][R];
#pragma unroll
            for (int u = 0; u < U; u++)
#pragma unroll
                for (int r = 0; r < R; r++)
                    wv[u][r] = j + 32 * u < count ? __ldg(wr[r] + c0 + j + 32 * u) : make_uint4(0, 0, 0, 0);
#pragma unroll
            for (int u = 0; u < U; u++)
            {
                if (j + 32 * u >= count) break;
#pragma unroll
                for (int t = 0; t < MAXT; t++)
                {
                    if (t < tokens)
                    {
                        uint4 xv = xs[t * count + j + 32 * u];
#pragma unroll
                        for (int r = 0; r < R; r++) fma8(acc[r][t], wv[u][r], xv);
                    }
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < R; r++)
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

extern "C" __global__ void __launch_bounds__(256) gemv(const bf16* __restrict__ x, int tokens, const bf16* __restrict__ w, int n, int k,
    void* __restrict__ y, int ldy, int floatOutput)
{
    launch_next_grid();
    wait_for_previous_grid();
    gemv_rows<ROWS, UNROLL>(PlainInput{x, k}, tokens, w, n, k, y, ldy, floatOutput);
}

extern "C" __global__ void __launch_bounds__(256) gemv_rmsnorm(const bf16* __restrict__ residual, const bf16* __restrict__ delta,
    const bf16* __restrict__ normWeight, float eps, bf16* __restrict__ residualOut, int tokens, const bf16* __restrict__ w, int n, int k,
    void* __restrict__ y, int ldy, int floatOutput)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ float scale[MAXT];
    __shared__ float scratch[32];
    // Every token's sum of squares in one pass of 16-byte chunks (a 3584-wide row is 2 chunks per thread), all tokens'
    // loads in flight together; block 0 also writes the new residual.
    float s[MAXT];
#pragma unroll
    for (int t = 0; t < MAXT; t++) s[t] = 0.f;
    for (int c = threadIdx.x; c < k / 8; c += blockDim.x)
    {
#pragma unroll
        for (int t = 0; t < MAXT; t++)
        {
            if (t < tokens)
            {
                uint4 rv = __ldg((const uint4*)(residual + (long long)t * k) + c);
                uint4 dv = delta == nullptr ? make_uint4(0, 0, 0, 0) : __ldg((const uint4*)(delta + (long long)t * k) + c);
                bf16* rp = (bf16*)&rv;
                const bf16* dp = (const bf16*)&dv;
#pragma unroll
                for (int i = 0; i < 8; i++)
                {
                    if (delta != nullptr) rp[i] = __float2bfloat16(__bfloat162float(rp[i]) + __bfloat162float(dp[i]));
                    float v = __bfloat162float(rp[i]);
                    s[t] += v * v;
                }
                if (blockIdx.x == 0 && residualOut != nullptr) ((uint4*)(residualOut + (long long)t * k))[c] = rv;
            }
        }
    }
#pragma unroll
    for (int t = 0; t < MAXT; t++)
    {
        if (t < tokens)
        {
            float total = block_sum(s[t], scratch);
            if (threadIdx.x == 0) scale[t] = rsqrtf(total / k + eps);
        }
    }
    __syncthreads();
    gemv_rows<NORM_ROWS, NORM_UNROLL>(NormInput{residual, delta, normWeight, scale, k}, tokens, w, n, k, y, ldy, floatOutput);
}

extern "C" __global__ void __launch_bounds__(256) gemv_silu(const bf16* __restrict__ gateUp, int tokens, const bf16* __restrict__ w, int n, int k,
    void* __restrict__ y, int ldy, int floatOutput)
{
    launch_next_grid();
    wait_for_previous_grid();
    gemv_rows<SILU_ROWS, SILU_UNROLL>(SiluInput{gateUp, k}, tokens, w, n, k, y, ldy, floatOutput);
}
