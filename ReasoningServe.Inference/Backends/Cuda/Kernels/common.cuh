// Shared by every kernel: the bf16 type, block-wide reductions (fp32), and the roundings that several kernels must
// reproduce exactly (RMSNorm's, SiLU·mul's) and the argmax tie rule.
#pragma once
#include <cuda_bf16.h>

typedef __nv_bfloat16 bf16;

#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

// Programmatic dependent launch (Hopper on, RS_CUDA_PDL): the backend launches kernels with the attribute that lets
// one start before the kernel ahead of it in the stream has completed, so a grid's launch overlaps its predecessor's
// last blocks instead of following them. Each kernel therefore begins with launch_next_grid() and calls
// wait_for_previous_grid() before it touches any memory that kernels ahead of it write (gemv.cu's wide entry points
// request their first weights before): that returns once the predecessor has completed and its writes are visible.
// launch_next_grid() lets the successor be scheduled once all of this grid's blocks are running (the backend's default,
// so that gemv.cu's next blocks request their weights while this kernel finishes), but only in a one-token step: every
// kernel such a step runs puts the tokens (or sequences) on grid x, and gemv.cu's kernels, which only run for one
// token, use launch_next_grid_always(); silu_mul and prefill_attention, whose grid x is not the tokens, never trigger
// early. In larger steps (and built with PDL_TRIGGER_AT_EXIT, RS_CUDA_PDL=exit) the successor is
// scheduled as this grid's blocks exit: on the H200 the early trigger had cost a 7B step of 64 sequences at 1024
// tokens 3-5%. Without the attribute, or before sm_90, these are no-ops. A unit test checks every kernel.
__device__ __forceinline__ void launch_next_grid_always()
{
#if __CUDA_ARCH__ >= 900 && !defined(PDL_TRIGGER_AT_EXIT)
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void launch_next_grid()
{
    if (gridDim.x == 1) launch_next_grid_always();
}

__device__ __forceinline__ void wait_for_previous_grid()
{
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// The global timer (ns), for pacing and for the timing builds' stamps.
__device__ __forceinline__ unsigned long long global_ns()
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

// A 16-byte read-only load of weights, which stream through L2 once a step: marked evict-first there, so that they do
// not push out what is read again each step (the K/V of the contexts, activations). A one-token step with it, against
// plain __ldg (GEMV_WEIGHTS_L2_NORMAL), alternated twice on the H200 (run 19): 1.5B 1.151-1.152 against 1.170-1.171 ms
// at 128 positions, 1.193 against 1.199 at 1024; 7B 3.598 against 3.633-3.634, 3.629-3.632 against 3.666, 3.847-3.849
// against 3.879-3.881 at 16000. The lm_head's row-per-warp GEMV keeps it too: with plain __ldg there, whole steps at 128
// positions were 0.5% slower (run 20: 1.5B 1.147 against 1.140-1.141 ms, 7B 3.630-3.631 against 3.621-3.623).
__device__ __forceinline__ unsigned long long evict_first_policy()
{
    unsigned long long policy;
    asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    return policy;
}

__device__ __forceinline__ uint4 load_weights(const uint4* p)
{
#ifndef GEMV_WEIGHTS_L2_NORMAL
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p), "l"(evict_first_policy()));
    return v;
#else
    return __ldg(p);
#endif
}

// A 16-byte load of what a kernel ahead of this one wrote, cached (ld.global.ca), for use after the wait: a volatile asm
// that neither the compiler nor ptxas moves above it, as they may a read-only __ldg load (its data must not change
// while the kernel runs, and under PDL it does).
__device__ __forceinline__ uint4 load_after_wait(const void* p)
{
    uint4 v;
    asm volatile("ld.global.ca.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p) : "memory");
    return v;
}

// The same wait, after the loads that produced v have been issued: the compiler may move loads from before the plain
// wait to after it (ptxas, CUDA 13, moved all of gemv_wide's), which leaves them no head start. A wait under a predicate
// computed from v cannot go ahead of them; both branches wait, so it always waits once.
__device__ __forceinline__ void wait_for_previous_grid_after(unsigned v)
{
#if __CUDA_ARCH__ >= 900
    asm volatile("{\n\t.reg .pred p;\n\tsetp.ne.u32 p, %0, 0;\n\t@p griddepcontrol.wait;\n\t@!p griddepcontrol.wait;\n\t}" ::"r"(v) : "memory");
#endif
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Every thread gets the block's total. blockDim.x must be a multiple of 32; scratch holds 32 floats and may be
// reused right after the call (the trailing barrier protects it).
__device__ __forceinline__ float block_sum(float v, float* scratch)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x >> 5) ? scratch[lane] : 0.f;
    v = warp_sum(v);
    __syncthreads();
    return v;
}

__device__ __forceinline__ float block_max(float v, float* scratch)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_max(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x >> 5) ? scratch[lane] : -INFINITY;
    v = warp_max(v);
    __syncthreads();
    return v;
}

// HF's RMSNorm rounding (Qwen2RMSNorm): bf16 after the scaling, then after the weight.
__device__ __forceinline__ bf16 rms_normalized(float x, float scale, bf16 w)
{
    return __float2bfloat16(__bfloat162float(__float2bfloat16(x * scale)) * __bfloat162float(w));
}

// The same on a 16-byte chunk (8 values), for the kernels that keep a row in chunks (rmsnorm.cu, gemv.cu's fused norm,
// decode_step.cu): bf16(residual + delta) as the residual stream is kept, the running sum of squares in element order,
// and the normalized chunk.
__device__ __forceinline__ uint4 add_residual8(uint4 residual, uint4 delta)
{
    bf16* rp = (bf16*)&residual;
    const bf16* dp = (const bf16*)&delta;
#pragma unroll
    for (int i = 0; i < 8; i++) rp[i] = __float2bfloat16(__bfloat162float(rp[i]) + __bfloat162float(dp[i]));
    return residual;
}

__device__ __forceinline__ void add_squares8(float& s, uint4 x)
{
    const bf16* xp = (const bf16*)&x;
#pragma unroll
    for (int i = 0; i < 8; i++)
    {
        float v = __bfloat162float(xp[i]);
        s += v * v;
    }
}

__device__ __forceinline__ uint4 rms_normalized8(uint4 x, float scale, uint4 w)
{
    uint4 out;
    const bf16 *xp = (const bf16*)&x, *wp = (const bf16*)&w;
    bf16* op = (bf16*)&out;
#pragma unroll
    for (int i = 0; i < 8; i++) op[i] = rms_normalized(__bfloat162float(xp[i]), scale, wp[i]);
    return out;
}

// silu(gate) * up in fp32, rounded once.
__device__ __forceinline__ bf16 silu_times(bf16 gate, bf16 up)
{
    float g = __bfloat162float(gate);
    return __float2bfloat16(g / (1.f + expf(-g)) * __bfloat162float(up));
}

// (value, index) pairs ordered by value, then by the lower index (torch.argmax's tie rule).
__device__ __forceinline__ bool better(float v, int i, float bv, int bi) { return v > bv || (v == bv && i < bi); }

// Every thread gets the block's best (value, index). values and indices hold 32 entries each.
__device__ __forceinline__ void block_best(float& v, int& i, float* values, int* indices)
{
    for (int o = 16; o > 0; o >>= 1)
    {
        float ov = __shfl_xor_sync(0xffffffffu, v, o);
        int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (better(ov, oi, v, i)) { v = ov; i = oi; }
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) { values[warp] = v; indices[warp] = i; }
    __syncthreads();
    v = lane < (int)(blockDim.x >> 5) ? values[lane] : -INFINITY;
    i = lane < (int)(blockDim.x >> 5) ? indices[lane] : 0x7fffffff;
    for (int o = 16; o > 0; o >>= 1)
    {
        float ov = __shfl_xor_sync(0xffffffffu, v, o);
        int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (better(ov, oi, v, i)) { v = ov; i = oi; }
    }
    __syncthreads();
}
