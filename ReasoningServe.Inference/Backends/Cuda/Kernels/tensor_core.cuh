// Shared by the tensor-core attention kernels (prefill_attention.cu, decode_attention.cu): the PTX they are built from
// (cp.async, ldmatrix, mma.sync m16n8k16 bf16) and the online-softmax step on mma accumulator fragments; and the bulk
// copies and mbarriers of gemv_o_gate_up.cu (and tools/gpu/persistent_stream.cu).
#pragma once
#include "common.cuh"

__device__ __forceinline__ unsigned smem_address(const void* p)
{
    return (unsigned)__cvta_generic_to_shared(p);
}

// 16 bytes global -> shared (a shared-space address), bypassing L1; srcBytes 0 writes zeros (keys past the end).
__device__ __forceinline__ void cp_async16(unsigned dst, const void* src, int srcBytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(srcBytes) : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// Waits until at most N of this thread's committed groups (the newest) are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }

// mbarriers and bulk copies are PTX 8.0 (CUDA 12): NVRTC 11.8 (tools/gpu/nvrtc-here.sh) builds them trapping instead,
// and such a build must not be launched.
#if __CUDACC_VER_MAJOR__ >= 12
__device__ __forceinline__ void mbarrier_init(unsigned bar, unsigned count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}

// Makes the initialized mbarriers visible to the async proxy (the bulk copies that complete on them).
__device__ __forceinline__ void fence_mbarrier_init() { asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory"); }

// One arrival that also expects this many bytes of bulk copies before the phase completes.
__device__ __forceinline__ void mbarrier_arrive_expect_bytes(unsigned bar, unsigned bytes)
{
    asm volatile("{\n\t.reg .b64 state;\n\tmbarrier.arrive.expect_tx.shared::cta.b64 state, [%0], %1;\n\t}" ::"r"(bar), "r"(bytes) : "memory");
}

__device__ __forceinline__ void mbarrier_arrive(unsigned bar)
{
    asm volatile("{\n\t.reg .b64 state;\n\tmbarrier.arrive.shared::cta.b64 state, [%0];\n\t}" ::"r"(bar) : "memory");
}

// Until the phase of this parity has completed.
__device__ __forceinline__ void mbarrier_wait(unsigned bar, unsigned parity)
{
    asm volatile("{\n\t.reg .pred done;\n\tWAIT_%=:\n\tmbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n\t@!done bra WAIT_%=;\n\t}" ::"r"(bar),
        "r"(parity) : "memory");
}

// bytes (a multiple of 16, both addresses 16-byte aligned) global -> shared, completing on bar; evict-first in L2 as the
// other weight loads (common.cuh's load_weights).
__device__ __forceinline__ void bulk_copy_weights(unsigned dst, const void* src, unsigned bytes, unsigned bar)
{
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;" ::"r"(dst), "l"(src),
        "r"(bytes), "r"(bar), "l"(evict_first_policy()) : "memory");
}
#else
__device__ __forceinline__ void mbarrier_init(unsigned, unsigned) { asm volatile("trap;"); }
__device__ __forceinline__ void fence_mbarrier_init() { asm volatile("trap;"); }
__device__ __forceinline__ void mbarrier_arrive_expect_bytes(unsigned, unsigned) { asm volatile("trap;"); }
__device__ __forceinline__ void mbarrier_arrive(unsigned) { asm volatile("trap;"); }
__device__ __forceinline__ void mbarrier_wait(unsigned, unsigned) { asm volatile("trap;"); }
__device__ __forceinline__ void bulk_copy_weights(unsigned, const void*, unsigned, unsigned) { asm volatile("trap;"); }
#endif

// Lane l gives the address of row l % 8 of matrix l / 8; register i gets row lane / 4, columns 2 (lane % 4) + {0, 1}
// of matrix i (of its transpose with .trans).
__device__ __forceinline__ void ldmatrix_x4(unsigned r[4], unsigned address)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}

__device__ __forceinline__ void ldmatrix_x4_trans(unsigned r[4], unsigned address)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}

// d += a (16x16 row-major) * b (16x8 col-major); lane = 4 * group + quad:
//   a: {a0,a1} row group, cols 2quad+{0,1}; {a2,a3} row group+8; {a4,a5}, {a6,a7} the same rows, cols +8
//   b: {b0,b1} k rows 2quad+{0,1}, col group; {b2,b3} k rows +8
//   d: d0,d1 row group, cols 2quad+{0,1}; d2,d3 row group+8
__device__ __forceinline__ void mma_bf16(float d[4], const unsigned a[4], unsigned b0, unsigned b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned pack_bf16(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *(unsigned*)&v;
}

// One key tile folded into a warp's running softmax. s holds the tile's scores in log2 units (masked keys -inf) as
// KN accumulator fragments, so this lane has rows group (s[n][0..1]) and group + 8 (s[n][2..3]) and a row's scores are
// spread over the 4 lanes of its quad. Turns s into probabilities exp2(s - m_new), rescales the output fragments o and
// the running sums l by exp2(m_old - m_new), and updates the running maxima m.
template <int KN, int DN>
__device__ __forceinline__ void online_softmax_step(float (&s)[KN][4], float (&o)[DN][4], float& m0, float& m1, float& l0, float& l1)
{
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int n = 0; n < KN; n++)
    {
        mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
        mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    float new0 = fmaxf(m0, mx0), new1 = fmaxf(m1, mx1);
    // A row that has seen no key yet (max -inf) subtracts 0 instead, so exp gives 0, not NaN.
    float base0 = new0 == -INFINITY ? 0.f : new0, base1 = new1 == -INFINITY ? 0.f : new1;
    float correction0 = exp2f(m0 - base0), correction1 = exp2f(m1 - base1);
    m0 = new0;
    m1 = new1;
    float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
    for (int n = 0; n < KN; n++)
    {
        s[n][0] = exp2f(s[n][0] - base0);
        s[n][1] = exp2f(s[n][1] - base0);
        s[n][2] = exp2f(s[n][2] - base1);
        s[n][3] = exp2f(s[n][3] - base1);
        sum0 += s[n][0] + s[n][1];
        sum1 += s[n][2] + s[n][3];
    }
    // l stays a per-lane partial sum (every lane of a quad applies the same corrections); summed at the end.
    l0 = l0 * correction0 + sum0;
    l1 = l1 * correction1 + sum1;
#pragma unroll
    for (int n = 0; n < DN; n++)
    {
        o[n][0] *= correction0;
        o[n][1] *= correction0;
        o[n][2] *= correction1;
        o[n][3] *= correction1;
    }
}
