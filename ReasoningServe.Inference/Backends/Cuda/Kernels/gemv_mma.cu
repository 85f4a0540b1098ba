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
// Split k (splits > 1, RS_CUDA_MMA_SPLITK): a shape of few row blocks (the 0.5B down's 56, the 1.5B o's 96) leaves
// multiprocessors idle, so each row block's chunks are shared by `splits` work items (item j: row block j / splits,
// the s = j % splits'th run of chunks); each item leaves its sums in scratch[j], and the item that finishes its row block
// last (a counter per row block, reset by it for the next launch) adds them up in split order and stores the row
// block: deterministic, but not the same bits as splits = 1. scratch: row blocks * splits * 128 floats; counters: row
// blocks, zero before the launch.
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

// Split k: item j's sums (16 rows x 8 tokens) to scratch[j]; whether this item was its row block's last, in which case
// sums now holds the row block's total, the splits added in order (the threadFenceReduction pattern: fence, then count).
__device__ __forceinline__ bool finish_split(float (*sums)[9], float* __restrict__ scratch, unsigned* __restrict__ counters, int j, int b,
    int splits, bool& last)
{
    for (int i = threadIdx.x; i < 16 * 8; i += blockDim.x) scratch[(long long)j * 128 + i] = sums[i / 8][i % 8];
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(&counters[b], 1u) == (unsigned)splits - 1;
    __syncthreads();
    if (!last) return false;
    __threadfence();
    for (int i = threadIdx.x; i < 16 * 8; i += blockDim.x)
    {
        float v = 0.f;
        for (int p = 0; p < splits; p++) v += __ldcg(scratch + ((long long)b * splits + p) * 128 + i);
        sums[i / 8][i % 8] = v;
    }
    if (threadIdx.x == 0) counters[b] = 0; // for the next launch
    __syncthreads();
    return true;
}

// SPLIT: the split-k build (gemv_mma_split); without it, splits is 1 and the loop's bounds are
// the unsplit kernel's own.
template <bool SPLIT, class Rows>
__device__ __forceinline__ void gemv_mma_block(const bf16* __restrict__ x, int tokens, const bf16* __restrict__ w, int n, int k, Rows rows,
    int splits, float* __restrict__ scratch, unsigned* __restrict__ counters)
{
    if (!SPLIT) splits = 1;
    __shared__ float partial[MAX_WARPS][16][9]; // [warp][row][token], padded
    __shared__ bool lastOfRowBlock;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5, g = lane >> 2, c = lane & 3;
    const bf16* xRow = x + (long long)g * k;
    const bool hasToken = g < tokens;
    const int chunks = (k + 31) / 32, stride = warps * UNROLL, rowBlocks = rows.blocks(n), items = rowBlocks * splits;
    const int perSplit = (chunks + splits - 1) / splits;
    int j = blockIdx.x;
    if (j >= items) return;

    const bf16 *rowA, *rowB;
    int end = chunks; // this item's chunks end here
    uint4 wa[UNROLL], wb[UNROLL];
    auto load_weights = [&](int first)
    {
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
        {
            const int chunk = first + u * warps, at = chunk * 32 + 8 * c; // k of this lane's 16 bytes; a multiple of 8, so in or out whole
            const bool in = (!SPLIT || chunk < end) && at < k;
            wa[u] = in ? __ldg((const uint4*)(rowA + at)) : make_uint4(0, 0, 0, 0);
            wb[u] = in ? __ldg((const uint4*)(rowB + at)) : make_uint4(0, 0, 0, 0);
        }
    };
    auto start_item = [&](int item)
    {
        const int block = item / splits, split = item - block * splits;
        rowA = w + (long long)rows.row(block, g, n) * k;
        rowB = w + (long long)rows.row(block, g + 8, n) * k;
        end = min(chunks, (split + 1) * perSplit);
        load_weights(split * perSplit + warp);
    };

    start_item(j);
    // A grid of fewer blocks than items is one wave (the host sizes it so), which may have its first weights arrive
    // ahead of the wait; a block per item may not (the wait would follow their arrival in every wave).
    if (gridDim.x < items) wait_for_previous_grid_after(wa[0].x);
    else wait_for_previous_grid();
    for (; j < items; j += gridDim.x)
    {
        const int b = j / splits, begin = (j - b * splits) * perSplit + warp;
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        for (int first = begin; first < end; first += stride)
        {
            if (first != begin) load_weights(first);
            uint4 xv[UNROLL];
#pragma unroll
            for (int u = 0; u < UNROLL; u++)
            {
                const int chunk = first + u * warps, at = chunk * 32 + 8 * c;
                xv[u] = (!SPLIT || chunk < end) && at < k && hasToken ? load_after_wait(xRow + at) : make_uint4(0, 0, 0, 0);
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
        // The next item's first weights stream in while this one's sums are added up.
        if (j + gridDim.x < items) start_item(j + gridDim.x);

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
        if (SPLIT && !finish_split(partial[0], scratch, counters, j, b, splits, lastOfRowBlock))
        {
            continue; // another item of this row block will store it (finish_split ended with a barrier)
        }
        rows.store(b, partial[0], tokens, n);
        __syncthreads(); // stored before the next row block's partials overwrite them
    }
}

extern "C" __global__ void __launch_bounds__(32 * MAX_WARPS) gemv_mma(const bf16* __restrict__ x, int tokens, const bf16* __restrict__ w, int n,
    int k, void* __restrict__ y, int ldy, int floatOutput)
{
    launch_next_grid();
    gemv_mma_block<false>(x, tokens, w, n, k, PlainMmaRows{y, ldy, floatOutput}, 1, nullptr, nullptr);
}

extern "C" __global__ void __launch_bounds__(32 * MAX_WARPS) gemv_mma_gate_up(const bf16* __restrict__ x, int tokens,
    const bf16* __restrict__ w, int intermediate, int k, bf16* __restrict__ act)
{
    launch_next_grid();
    gemv_mma_block<false>(x, tokens, w, 2 * intermediate, k, GateUpMmaRows{act, intermediate}, 1, nullptr, nullptr);
}

// The same with each row block's k in `splits` items (scratch, counters: see Split k above).
extern "C" __global__ void __launch_bounds__(32 * MAX_WARPS) gemv_mma_split(const bf16* __restrict__ x, int tokens, const bf16* __restrict__ w,
    int n, int k, void* __restrict__ y, int ldy, int floatOutput, int splits, float* __restrict__ scratch, unsigned* __restrict__ counters)
{
    launch_next_grid();
    gemv_mma_block<true>(x, tokens, w, n, k, PlainMmaRows{y, ldy, floatOutput}, splits, scratch, counters);
}

