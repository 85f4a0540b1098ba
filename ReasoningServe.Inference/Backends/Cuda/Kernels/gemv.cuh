// gemv.cu's pieces that decode_step.cu's persistent one-token step shares: the 16-byte multiply-add of bf16 weights
// and inputs (fp32 accumulation, in a fixed order so that both give the same sums) and what becomes of a wide row's sum.
#pragma once
#include "common.cuh"

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

// silu(gate) * up for a 16-byte chunk of each (8 values), rounded once as silu_mul.cu rounds.
__device__ __forceinline__ uint4 silu_times8(uint4 gate, uint4 up)
{
    uint4 out;
    const bf16 *gp = (const bf16*)&gate, *upp = (const bf16*)&up;
    bf16* op = (bf16*)&out;
#pragma unroll
    for (int i = 0; i < 8; i++) op[i] = silu_times(gp[i], upp[i]);
    return out;
}

// The first row of block `block` of `blocks` when n rows are shared out evenly, one at a time or in pairs.
__device__ __forceinline__ int wide_first_row(int n, int block, int blocks) { return (int)((long long)block * n / blocks); }
__device__ __forceinline__ int wide_first_pair_row(int n, int block, int blocks) { return 2 * wide_first_row(n / 2, block, blocks); }

// The weight row at position r when a head's rows are taken in RoPE pairs: positions 2m and 2m + 1 of a head are its
// rows m and m + headDim / 2.
__device__ __forceinline__ int rope_pair_row(int r, int headDim)
{
    int j = r % headDim;
    return r - j + (j >> 1) + (j & 1) * (headDim >> 1);
}

// Where a wide block's rows lie in W and what becomes of their sums. PlainRows: block b takes rows first(b).. of W in
// order and stores them to y as they are.
struct PlainRows
{
    void* y;
    int floatOutput;
    __device__ __forceinline__ int first(int n, int block) const { return wide_first_row(n, block, gridDim.x); }
    __device__ __forceinline__ int weight_row(int r) const { return r; }
    __device__ __forceinline__ void store(float sum, int r, bool valid) const
    {
        if (!valid) return;
        if (floatOutput) ((float*)y)[r] = sum;
        else ((bf16*)y)[r] = __float2bfloat16(sum);
    }
};

// QkvRows (gemv_wide_qkv): the fused qkv projection [q heads | k heads | v heads] of one token, finished as qkv_finish.cu
// finishes it for a model without q/k norms (those need a whole head's sum): bf16(x + bias), neox RoPE on q and k, and
// k and v also to the token's cache slot (a negative slot: not written), with the same roundings. A block's rows 2m and
// 2m + 1 are the two halves that RoPE rotates together (rows i and i + headDim/2 of a head), so both sums meet in one
// warp, and blocks take whole pairs.
struct QkvRows
{
    bf16* qkv;
    const bf16* bias;
    const int* positions;
    const float* invFreq;
    const int* slots;
    bf16* kCache;
    bf16* vCache;
    int heads, kvHeads, headDim;
    __device__ __forceinline__ int first(int n, int block) const { return wide_first_pair_row(n, block, gridDim.x); }
    __device__ __forceinline__ int weight_row(int r) const { return rope_pair_row(r, headDim); }
    // What store needs besides the sum for row r (bias 0 without one): read by store itself, or, in gemv_wide_qkv, before
    // its wait (gemv.cu's load_inputs_before_wait: none of it is a kernel's output), so that these loads do not follow
    // the block's sums.
    struct Inputs
    {
        float position, freq, bias;
        long long slot;
    };
    Inputs early;
    bool hasEarly;
    // RoPE's inverse frequency of weight row `row` (a head's rows i and i + headDim / 2 share one)
    __device__ __forceinline__ const float* freq_of(int row) const
    {
        const int i = row % headDim, half = headDim >> 1;
        return invFreq + (i < half ? i : i - half);
    }
    __device__ __forceinline__ Inputs inputs(int r, bool valid) const
    {
        const int row = weight_row(r);
        if (!valid) return {0.f, 0.f, 0.f, -1};
        return {(float)positions[0], *freq_of(row), bias != nullptr ? __bfloat162float(bias[row]) : 0.f, slots[0]};
    }
    // Called by every lane of a warp whose lane r holds row base + r, base even (gemv.cu: warp 0, base 0, a block has
    // at most 32 rows), so that a pair meets in the warp.
    __device__ __forceinline__ void store(float sum, int r, bool valid) const
    {
        const Inputs in = hasEarly ? early : inputs(r, valid);
        const int row = weight_row(r), head = row / headDim, i = row % headDim, half = headDim >> 1;
        float x = __bfloat162float(__float2bfloat16(sum));
        if (bias != nullptr && valid) x = __bfloat162float(__float2bfloat16(x + in.bias));
        const float other = __shfl_xor_sync(0xffffffffu, x, 1); // the pair's other half
        if (!valid) return;
        bf16 y = __float2bfloat16(x);
        if (head < heads + kvHeads)
        {
            float s, c;
            sincosf(in.position * in.freq, &s, &c);
            y = i < half ? __float2bfloat16(x * c - other * s) : __float2bfloat16(x * c + other * s);
        }
        qkv[row] = y;
        const long long slot = in.slot;
        const int qSize = heads * headDim, kvSize = kvHeads * headDim;
        if (slot >= 0 && head >= heads)
        {
            if (head < heads + kvHeads) kCache[slot * kvSize + row - qSize] = y;
            else vCache[slot * kvSize + row - qSize - kvSize] = y;
        }
    }
};

// GateUpSiluRows (gemv_wide_gate_up): the fused gate_up projection [gate rows | up rows] of one token, ending as
// silu_mul.cu would: act[m] = silu(gate_m) * up_m from the two bf16-rounded sums, rounded once. A block takes its rows in
// (gate m, up m) pairs, which meet in one warp, so the down projection after it reads a plain input.
struct GateUpSiluRows
{
    bf16* act;
    int intermediate;
    __device__ __forceinline__ int first(int n, int block) const { return wide_first_pair_row(n, block, gridDim.x); }
    __device__ __forceinline__ int weight_row(int r) const { return (r >> 1) + (r & 1) * intermediate; }
    // Called by every lane of a warp whose lane r holds row base + r, base even (as QkvRows::store).
    __device__ __forceinline__ void store(float sum, int r, bool valid) const
    {
        const bf16 y = __float2bfloat16(sum);
        const float up = __shfl_xor_sync(0xffffffffu, __bfloat162float(y), 1); // the pair's up row (exact: a bf16 value)
        if (valid && (r & 1) == 0) act[r >> 1] = silu_times(y, __float2bfloat16(up));
    }
};
