// y[t, o] = sum_k x[t, k] W[o, k] for 2 to 8 tokens (decode steps of a small batch) on tensor cores. Like gemv.cu it
// streams W once, but the multiplies go to mma.sync m16n8k16 (bf16 in, fp32 out): 16 weight rows are the M side, the
// tokens the N side (8, zero past the last), so 8 tokens cost the same instructions as one (gemv.cu's CUDA-core FMAs ran
// out of issue slots at 4 and 8 tokens, slower than cuBLAS: docs/benchmarks/cuda-h200.md, run 3).
// A row block is 16 weight rows (fragment rows g and g + 8 of lane group g = lane / 4; which rows of W they are is the
// entry point's: Rows below); a block's warps share its rows' k in 32-wide chunks (warp w: chunks w, w + warps, ...).
// Blocks take row blocks b, b + gridDim.x, ...: one each (grid = row blocks), or, in a grid of one wave
// (RS_CUDA_MMA_WAVE), several, requesting the next one's first weights while adding up this one's sums.
// In a chunk, lane (g, c = lane % 4) loads 16 bytes at k offset 8c of its two rows and of token g's x.
// The sum over k does not care which k a fragment slot holds as long as the weights and x agree, so the 8 loaded
// elements of a lane feed two MMAs straight from registers, no shared memory or ldmatrix: elements {0,1}, {2,3} of each
// 16 bytes are the fragment's k slots {2c, 2c+1}, {2c+8, 2c+9} in the first MMA, elements {4,5}, {6,7} in the second
// (so each MMA covers 16 of the chunk's 32 k, each once). UNROLL chunks per warp are in flight at a time. Two things
// that gemv.cu's one-token kernels gain from streamed slower here (run 14): requesting the next UNROLL chunks while
// multiplying these (more registers), and, on a block per row block, the first chunks' weights before the wait for the
// previous kernel (the wait then follows their arrival, which every block of a multi-wave grid pays; one-wave grids do
// it, below). At the end the warps' accumulators
// meet in shared memory and are added in warp order, so results do not depend on timing (nor on the grid, nor on which
// entry point took the row).
// fp32 accumulation. k must be a multiple of 8; rows and tokens past the end read a valid row and zeros.
// gemv_mma: bf16 or fp32 output (the logits); ceil(n / 16) row blocks. gemv_mma_gate_up: the fused [gate | up] projection of
// 2 x intermediate rows ending as silu_mul.cu would (act = silu(gate) * up from the bf16-rounded sums), so that the
// down projection reads a plain input: row block b is gate rows 8b..8b+7 as fragment rows g and the matching up rows as
// g + 8; ceil(intermediate / 8) row blocks. block: 32 * warps, warps <= MAX_WARPS (the host takes 16: cuda-check mma-sweep).
#include "tensor_core.cuh"

#define MAX_WARPS 16
#ifndef UNROLL
#define UNROLL 4
#endif

// Row block b's rows of W in plain order; sums to y as they are.
struct PlainMmaRows
{
    void* y;
    int ldy, floatOutput;
    __device__ __forceinline__ int blocks(int n) const { return (n + 15) / 16; }
    __device__ __forceinline__ int row(int b, int fragmentRow, int n) const { return min(b * 16 + fragmentRow, n - 1); }
    __device__ __forceinline__ void store(int b, const float (*sums)[9], int tokens, int n) const
    {
        for (int i = threadIdx.x; i < 16 * 8; i += blockDim.x)
        {
            const int r = i / 8, token = i % 8, row = b * 16 + r;
            if (row >= n || token >= tokens) continue;
            if (floatOutput) ((float*)y)[(long long)token * ldy + row] = sums[r][token];
            else ((bf16*)y)[(long long)token * ldy + row] = __float2bfloat16(sums[r][token]);
        }
    }
};

// gemv_mma_gate_up: fragment row g is gate row 8b + g, row g + 8 the up row of the same index; act has intermediate columns.
struct GateUpMmaRows
{
    bf16* act;
    int intermediate;
    __device__ __forceinline__ int blocks(int) const { return (intermediate + 7) / 8; }
    __device__ __forceinline__ int row(int b, int fragmentRow, int) const
    {
        const int m = min(b * 8 + (fragmentRow & 7), intermediate - 1);
        return fragmentRow < 8 ? m : intermediate + m;
    }
    __device__ __forceinline__ void store(int b, const float (*sums)[9], int tokens, int) const
    {
        for (int i = threadIdx.x; i < 8 * 8; i += blockDim.x)
        {
            const int r = i / 8, token = i % 8, m = b * 8 + r;
            if (m >= intermediate || token >= tokens) continue;
            act[(long long)token * intermediate + m] = silu_times(__float2bfloat16(sums[r][token]), __float2bfloat16(sums[r + 8][token]));
        }
    }
};

template <class Rows>
__device__ __forceinline__ void gemv_mma_block(const bf16* __restrict__ x, int tokens, const bf16* __restrict__ w, int n, int k, Rows rows)
{
    __shared__ float partial[MAX_WARPS][16][9]; // [warp][row][token], padded
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5, g = lane >> 2, c = lane & 3;
    const bf16* xRow = x + (long long)g * k;
    const bool hasToken = g < tokens;
    const int chunks = (k + 31) / 32, stride = warps * UNROLL, rowBlocks = rows.blocks(n);
    int b = blockIdx.x;
    if (b >= rowBlocks) return;

    const bf16 *rowA, *rowB;
    uint4 wa[UNROLL], wb[UNROLL];
    // plain __ldg: gemv.cu's evict-first hint (common.cuh's load_weights) made steps of 2-8 tokens no faster (run 20)
    auto request_weights = [&](int first)
    {
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
        {
            const int at = (first + u * warps) * 32 + 8 * c; // k of this lane's 16 bytes; a multiple of 8, so in or out whole
            const bool in = at < k;
            wa[u] = in ? __ldg((const uint4*)(rowA + at)) : make_uint4(0, 0, 0, 0);
            wb[u] = in ? __ldg((const uint4*)(rowB + at)) : make_uint4(0, 0, 0, 0);
        }
    };
    auto start_row_block = [&](int block)
    {
        rowA = w + (long long)rows.row(block, g, n) * k;
        rowB = w + (long long)rows.row(block, g + 8, n) * k;
        request_weights(warp);
    };

    start_row_block(b);
    // A grid of fewer blocks than row blocks is one wave (the host sizes it so), which may have its first weights arrive
    // ahead of the wait; a block per row block may not (the wait would follow their arrival in every wave).
    if (gridDim.x < rowBlocks) wait_for_previous_grid_after(wa[0].x);
    else wait_for_previous_grid();
    for (; b < rowBlocks; b += gridDim.x)
    {
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        for (int first = warp; first < chunks; first += stride)
        {
            if (first != warp) request_weights(first);
            uint4 xv[UNROLL];
#pragma unroll
            for (int u = 0; u < UNROLL; u++)
            {
                const int at = (first + u * warps) * 32 + 8 * c;
                xv[u] = at < k && hasToken ? load_after_wait(xRow + at) : make_uint4(0, 0, 0, 0);
            }
#pragma unroll
            for (int u = 0; u < UNROLL; u++)
            {
                const unsigned first16[4] = {wa[u].x, wb[u].x, wa[u].y, wb[u].y};
                const unsigned second16[4] = {wa[u].z, wb[u].z, wa[u].w, wb[u].w};
                mma_bf16(acc, first16, xv[u].x, xv[u].y);
                mma_bf16(acc, second16, xv[u].z, xv[u].w);
            }
        }
        // The next row block's first weights stream in while this one's sums are added up.
        if (b + gridDim.x < rowBlocks) start_row_block(b + gridDim.x);

        // acc: rows g (0, 1) and g + 8 (2, 3), tokens 2c + {0, 1}
        partial[warp][g][2 * c] = acc[0];
        partial[warp][g][2 * c + 1] = acc[1];
        partial[warp][g + 8][2 * c] = acc[2];
        partial[warp][g + 8][2 * c + 1] = acc[3];
        __syncthreads();
        // The sums, added in warp order, over warp 0's slots (each thread reads and writes only its own entries).
        for (int i = threadIdx.x; i < 16 * 8; i += blockDim.x)
        {
            const int r = i / 8, token = i % 8;
            float v = 0.f;
            for (int p = 0; p < warps; p++) v += partial[p][r][token];
            partial[0][r][token] = v;
        }
        __syncthreads();
        rows.store(b, partial[0], tokens, n);
        __syncthreads(); // stored before the next row block's partials overwrite them
    }
}

extern "C" __global__ void __launch_bounds__(32 * MAX_WARPS) gemv_mma(const bf16* __restrict__ x, int tokens, const bf16* __restrict__ w, int n,
    int k, void* __restrict__ y, int ldy, int floatOutput)
{
    launch_next_grid();
    gemv_mma_block(x, tokens, w, n, k, PlainMmaRows{y, ldy, floatOutput});
}

extern "C" __global__ void __launch_bounds__(32 * MAX_WARPS) gemv_mma_gate_up(const bf16* __restrict__ x, int tokens,
    const bf16* __restrict__ w, int intermediate, int k, bf16* __restrict__ act)
{
    launch_next_grid();
    gemv_mma_block(x, tokens, w, 2 * intermediate, k, GateUpMmaRows{act, intermediate});
}
