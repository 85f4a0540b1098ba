// y[t, o] = sum_k x[t, k] W[o, k] for 2 to 8 tokens (decode steps of a small batch) on tensor cores. Like gemv.cu it
// streams W once, but the multiplies go to mma.sync m16n8k16 (bf16 in, fp32 out): 16 weight rows are the M side, the
// tokens the N side (8, zero past the last), so 8 tokens cost the same instructions as one (gemv.cu's CUDA-core FMAs ran
// out of issue slots at 4 and 8 tokens, slower than cuBLAS: docs/benchmarks/cuda-h200.md, run 3).
// A block takes 16 consecutive rows; its warps share the rows' k in 32-wide chunks (warp w: chunks w, w + warps, ...).
// In a chunk, lane (g = lane / 4, c = lane % 4) loads 16 bytes at k offset 8c of rows g and g + 8 and of token g's x.
// The sum over k does not care which k a fragment slot holds as long as the weights and x agree, so the 8 loaded
// elements of a lane feed two MMAs straight from registers, no shared memory or ldmatrix: elements {0,1}, {2,3} of each
// 16 bytes are the fragment's k slots {2c, 2c+1}, {2c+8, 2c+9} in the first MMA, elements {4,5}, {6,7} in the second
// (so each MMA covers 16 of the chunk's 32 k, each once). UNROLL chunks per warp are in flight at a time. At the end
// the warps' accumulators meet in shared memory and are added in warp order, so results do not depend on timing.
// fp32 accumulation; bf16 or fp32 output (the logits). k must be a multiple of 8; rows and tokens past the end read
// row n - 1 and zeros. grid: ceil(n / 16), block: 32 * warps, warps <= MAX_WARPS (the host takes 16, the H200's best
// for the qkv and o projections it sends here: cuda-check mma-sweep).
#include "tensor_core.cuh"

#define MAX_WARPS 16
#ifndef UNROLL
#define UNROLL 4
#endif

extern "C" __global__ void __launch_bounds__(32 * MAX_WARPS) gemv_mma(const bf16* __restrict__ x, int tokens, const bf16* __restrict__ w, int n,
    int k, void* __restrict__ y, int ldy, int floatOutput)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ float partial[MAX_WARPS][16][9]; // [warp][row][token], padded
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5, g = lane >> 2, c = lane & 3;
    const int row0 = blockIdx.x * 16;
    const bf16* rowA = w + (long long)min(row0 + g, n - 1) * k;
    const bf16* rowB = w + (long long)min(row0 + g + 8, n - 1) * k;
    const int chunks = (k + 31) / 32;
    float acc[4] = {0.f, 0.f, 0.f, 0.f};

    for (int first = warp; first < chunks; first += warps * UNROLL)
    {
        uint4 wa[UNROLL], wb[UNROLL], xv[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
        {
            const int at = (first + u * warps) * 32 + 8 * c; // k of this lane's 16 bytes; a multiple of 8, so in or out whole
            const bool in = at < k;
            wa[u] = in ? __ldg((const uint4*)(rowA + at)) : make_uint4(0, 0, 0, 0);
            wb[u] = in ? __ldg((const uint4*)(rowB + at)) : make_uint4(0, 0, 0, 0);
            xv[u] = in && g < tokens ? load_after_wait(x + (long long)g * k + at) : make_uint4(0, 0, 0, 0);
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

    // acc: rows g (0, 1) and g + 8 (2, 3), tokens 2c + {0, 1}
    partial[warp][g][2 * c] = acc[0];
    partial[warp][g][2 * c + 1] = acc[1];
    partial[warp][g + 8][2 * c] = acc[2];
    partial[warp][g + 8][2 * c + 1] = acc[3];
    __syncthreads();
    for (int i = threadIdx.x; i < 16 * 8; i += blockDim.x)
    {
        const int r = i / 8, token = i % 8, row = row0 + r;
        if (row >= n || token >= tokens) continue;
        float v = 0.f;
        for (int p = 0; p < warps; p++) v += partial[p][r][token];
        if (floatOutput) ((float*)y)[(long long)token * ldy + row] = v;
        else ((bf16*)y)[(long long)token * ldy + row] = __float2bfloat16(v);
    }
}
