// A one-token step's o projection, post-attention residual add and RMSNorm, and gate_up projection with SiLU·mul in one
// launch of one block per multiprocessor, in place of gemv.cu's gemv_wide (o), rmsnorm.cu's add_rmsnorm and gemv.cu's
// gemv_wide_gate_up:
//   residual = bf16(residual + bf16(attn W_o^T));  x = rmsnorm(residual) * w;  act = silu(x W_gate^T) * (x W_up^T)
// Why: as separate kernels, while attention runs only the o projection's weights are in flight (its blocks hold their
// first rows in registers), and gate_up's blocks cannot start before o's have left the multiprocessors; on the H200 the
// 1.5B spends ~5 us of a ~36 us layer in attention and ~2 us in the norm with the memory mostly idle (run 20's timeline).
// Here each block copies its o rows and then as many of its gate_up rows as its shared memory holds as soon as it starts
// (bulk copies, cp.async.bulk, before its wait for attention), so the weights go on streaming through attention, o and
// the norm; one grid barrier stands where the norm's launch was, since the norm needs every o row.
// The arithmetic is the separate kernels' (bit for bit): a row is summed as gemv.cu's wide layout sums it (a group of G
// threads, G its wide block size for k; thread q takes chunks q, q + G, ... in order, then the group's warp sums are added
// in warp order), the residual add and the norm's sum of squares as add_rmsnorm (its first 256 threads, its chunks and
// its reduction), the product as GateUpSiluRows.
// Layout: GROUPS groups of G threads compute and one more warp copies. The copy warp's lane 0 streams the block's rows,
// o rows first, then gate_up rows in (gate m, up m) pairs, through a ring of `slots` row buffers, each completing on a
// "full" mbarrier (the copy's bytes) and freed by its group's warps on an "empty" one. Block b takes o rows
// wide_first_row(hidden, b, grid) .. and gate_up pairs wide_first_pair_row(2 * inter, b, grid) ..; group g takes the
// block's rows g, g + GROUPS, ...
// The barrier counts arrivals on a 64-bit counter that only grows (every launch on it adds its grid), so it needs no
// reset: a block waits until the count reaches the next multiple of the grid. Every launch on one counter must use the
// same grid, and every block must be resident at once: grid = the multiprocessor count, with shared memory for one
// block a multiprocessor. block: GROUPS * G + 32; hidden == qSize (the host checks), a multiple of 8, at most 8192.
// dynamic shared memory: slots * hidden * 2 + hidden * 4 (the normalized row, the norm's weight) + 4 * rows * G / 32 (the
// partial sums, rounded up to 8 bytes) + 16 * slots + 8 (the mbarriers), rows the most o rows plus gate_up rows a block
// takes (maxRows).
#include "gemv.cuh"

#define OGU_CPT 5 // gemv.cu's CPT: chunks of a row per thread at most

__device__ __forceinline__ unsigned shared_address(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

// mbarriers and bulk copies are PTX 8.0 (CUDA 12): NVRTC 11.8 (tools/gpu/nvrtc-here.sh) builds the file with these
// trapping instead, and such a build must not be launched.
#if __CUDACC_VER_MAJOR__ >= 12
__device__ __forceinline__ void mbarrier_init(unsigned bar, unsigned count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}

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
__device__ __forceinline__ void mbarrier_arrive_expect_bytes(unsigned, unsigned) { asm volatile("trap;"); }
__device__ __forceinline__ void mbarrier_arrive(unsigned) { asm volatile("trap;"); }
__device__ __forceinline__ void mbarrier_wait(unsigned, unsigned) { asm volatile("trap;"); }
__device__ __forceinline__ void bulk_copy_weights(unsigned, const void*, unsigned, unsigned) { asm volatile("trap;"); }
#define OGU_NO_BULK
#endif

// GEMV_TIMELINE (timing only, as gemv.cu's): thread 0 of each block writes the global timer (ns) into
// ogu_timeline[block][k] at its entry (0), when its wait returns (1), when its o rows are multiplied (2), past the grid
// barrier (3), when the normalized row is ready (4), when its gate_up rows are multiplied (5) and at its end (6); the
// copy thread when it has issued its last copy (7). Every layer overwrites the last.
#ifdef GEMV_TIMELINE
__device__ unsigned long long ogu_timeline[1024][8];
#define OGU_STAMP(k) \
    do { if ((threadIdx.x == 0 || (k) == 7) && blockIdx.x < 1024) { unsigned long long t_; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t_)); \
        ogu_timeline[blockIdx.x][k] = t_; } } while (0)
#else
#define OGU_STAMP(k) do { } while (0)
#endif

// The compute threads' barrier (named barrier 1): the copy warp never waits at one.
__device__ __forceinline__ void compute_sync(int threads) { asm volatile("bar.sync 1, %0;" ::"r"(threads) : "memory"); }

__device__ __forceinline__ unsigned long long load_acquire_u64(const unsigned long long* p)
{
    unsigned long long v;
    asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
}

// Every compute thread's writes before it are visible to every block's compute threads after it.
__device__ __forceinline__ void grid_barrier(unsigned long long* arrivals, int threads)
{
    compute_sync(threads);
    if (threadIdx.x == 0)
    {
        asm volatile("fence.acq_rel.gpu;" ::: "memory"); // with the relaxed add below: a release of the block's writes
        const unsigned long long old = atomicAdd(arrivals, 1ull), target = (old / gridDim.x + 1) * gridDim.x;
        while (load_acquire_u64(arrivals) < target) { }
        asm volatile("fence.acq_rel.gpu;" ::: "memory");
    }
    compute_sync(threads);
}

// add_rmsnorm's block_sum over the compute threads (the warps past the first 256 threads add zeros, as the lanes past
// add_rmsnorm's 8 warps do).
__device__ __forceinline__ float compute_sum(float v, float* scratch, int threads)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    compute_sync(threads);
    v = lane < (threads >> 5) ? scratch[lane] : 0.f;
    return warp_sum(v);
}

// The block's rows of one projection as a group multiplies them: row j of the block sits in ring slot (first + j) % slots
// (first: the rows of the block's sequence before this projection's), its chunks in order; the sum of warp w of the
// group goes to partial[j * warps + w].
__device__ __forceinline__ void multiply_rows(const uint4* ring, unsigned fullBars, unsigned emptyBars, int slots, int chunks, int first, int rows,
    const uint4 (&xv)[OGU_CPT], int g, int groups, int q, int G, float* partial)
{
    const int warps = G >> 5, lane = threadIdx.x & 31;
    for (int j = g; j < rows; j += groups)
    {
        const int i = first + j, slot = i % slots;
        mbarrier_wait(fullBars + 8 * slot, (i / slots) & 1);
        const uint4* row = ring + (long long)slot * chunks;
        float acc = 0.f;
#pragma unroll
        for (int c = 0; c < OGU_CPT; c++)
            if (q + c * G < chunks) fma8(acc, row[q + c * G], xv[c]);
        __syncwarp();
        if (lane == 0) mbarrier_arrive(emptyBars + 8 * slot); // this warp is done with the slot
        const float v = warp_sum(acc);
        if (lane == 0) partial[j * warps + (q >> 5)] = v;
    }
}

extern "C" __global__ void __launch_bounds__(1024) gemv_o_gate_up(const bf16* __restrict__ attn, const bf16* __restrict__ wO, bf16* __restrict__ residual,
    const bf16* __restrict__ normWeight, float eps, const bf16* __restrict__ wGateUp, int inter, bf16* __restrict__ act, int hidden, int G,
    int slots, int maxRows, unsigned long long* __restrict__ arrivals)
{
    launch_next_grid_always(); // one token only
    OGU_STAMP(0);
    extern __shared__ __align__(128) unsigned char smem[];
    const int chunks = hidden / 8, rowBytes = hidden * 2, groups = (blockDim.x - 32) / G, computeThreads = groups * G;
    uint4* ring = (uint4*)smem;
    uint4* xs = (uint4*)(smem + (long long)slots * rowBytes);
    const uint4* normShared = xs + chunks; // the norm's weight, copied in with the first rows
    float* partial = (float*)(normShared + chunks);
    const unsigned fullBars = shared_address(partial + ((maxRows * (G >> 5) + 1) & ~1)), emptyBars = fullBars + 8 * slots; // 8-byte aligned
    const unsigned normBar = emptyBars + 8 * slots;
    __shared__ float scratch[32];

    const int oFirst = wide_first_row(hidden, blockIdx.x, gridDim.x), oRows = wide_first_row(hidden, blockIdx.x + 1, gridDim.x) - oFirst;
    const int guFirst = wide_first_pair_row(2 * inter, blockIdx.x, gridDim.x);
    const int guRows = wide_first_pair_row(2 * inter, blockIdx.x + 1, gridDim.x) - guFirst;
    if (threadIdx.x == 0)
    {
        for (int s = 0; s < slots; s++)
        {
            mbarrier_init(fullBars + 8 * s, 1);
            mbarrier_init(emptyBars + 8 * s, G >> 5);
        }
        mbarrier_init(normBar, 1);
#ifndef OGU_NO_BULK
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#endif
    }
    __syncthreads();

    if (threadIdx.x >= computeThreads)
    {
        // The copy warp: weights only, so it never waits for the kernel ahead.
        if (threadIdx.x != computeThreads) return;
        const GateUpSiluRows pairs{act, inter};
        mbarrier_arrive_expect_bytes(normBar, rowBytes);
        bulk_copy_weights(shared_address(normShared), normWeight, rowBytes, normBar);
        for (int i = 0; i < oRows + guRows; i++)
        {
            const int slot = i % slots;
            if (i >= slots) mbarrier_wait(emptyBars + 8 * slot, (i / slots - 1) & 1);
            const bf16* src = i < oRows ? wO + (long long)(oFirst + i) * hidden : wGateUp + (long long)pairs.weight_row(guFirst + i - oRows) * hidden;
            mbarrier_arrive_expect_bytes(fullBars + 8 * slot, rowBytes);
            bulk_copy_weights(shared_address(ring) + slot * rowBytes, src, rowBytes, fullBars + 8 * slot);
        }
        OGU_STAMP(7);
        return;
    }

    const int g = threadIdx.x / G, q = threadIdx.x % G;
    wait_for_previous_grid();
    OGU_STAMP(1);

    // o: attention's output row, this thread's chunks of it
    uint4 xv[OGU_CPT];
#pragma unroll
    for (int c = 0; c < OGU_CPT; c++) xv[c] = q + c * G < chunks ? load_after_wait((const uint4*)attn + q + c * G) : make_uint4(0, 0, 0, 0);
    multiply_rows(ring, fullBars, emptyBars, slots, chunks, 0, oRows, xv, g, groups, q, G, partial);
    compute_sync(computeThreads);
    OGU_STAMP(2);
    // the o rows into the residual stream, as add_rmsnorm adds them: bf16(residual + bf16(sum))
    for (int r = threadIdx.x; r < oRows; r += computeThreads)
    {
        float v = 0.f;
        for (int w = 0; w < (G >> 5); w++) v += partial[r * (G >> 5) + w];
        bf16* at = residual + oFirst + r;
        *at = __float2bfloat16(__bfloat162float(__ldcg(at)) + __bfloat162float(__float2bfloat16(v)));
    }
    grid_barrier(arrivals, computeThreads);
    OGU_STAMP(3);

    // add_rmsnorm over the new residual, every block for itself
    uint4 v[4];
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < 4; j++)
    {
        const int c = threadIdx.x + j * 256;
        v[j] = threadIdx.x < 256 && c < chunks ? __ldcg((const uint4*)residual + c) : make_uint4(0, 0, 0, 0);
        if (threadIdx.x < 256 && c < chunks) add_squares8(s, v[j]);
    }
    const float scale = rsqrtf(compute_sum(s, scratch, computeThreads) / hidden + eps);
    mbarrier_wait(normBar, 0);
#pragma unroll
    for (int j = 0; j < 4; j++)
    {
        const int c = threadIdx.x + j * 256;
        if (threadIdx.x < 256 && c < chunks) xs[c] = rms_normalized8(v[j], scale, normShared[c]);
    }
    compute_sync(computeThreads);
    OGU_STAMP(4);

    // gate_up, then its pairs' products
#pragma unroll
    for (int c = 0; c < OGU_CPT; c++) xv[c] = q + c * G < chunks ? xs[q + c * G] : make_uint4(0, 0, 0, 0);
    float* guPartial = partial + oRows * (G >> 5);
    multiply_rows(ring, fullBars, emptyBars, slots, chunks, oRows, guRows, xv, g, groups, q, G, guPartial);
    compute_sync(computeThreads);
    OGU_STAMP(5);
    const GateUpSiluRows out{act, inter};
    const int lane = threadIdx.x & 31;
    for (int base = (threadIdx.x >> 5) * 32; base < guRows; base += computeThreads)
    {
        const int j = base + lane;
        float sum = 0.f;
        if (j < guRows)
            for (int w = 0; w < (G >> 5); w++) sum += guPartial[j * (G >> 5) + w];
        out.store(sum, guFirst + j, j < guRows);
    }
    OGU_STAMP(6);
}
