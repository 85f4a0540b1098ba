// A one-token step's o projection, post-attention residual add and RMSNorm, and gate_up projection with SiLU·mul in one
// launch of one block per multiprocessor (those attention's blocks leave free), in place of gemv.cu's gemv_wide (o),
// rmsnorm.cu's add_rmsnorm and gemv.cu's gemv_wide_gate_up:
//   residual = bf16(residual + bf16(attn W_o^T));  x = rmsnorm(residual) * w;  act = silu(x W_gate^T) * (x W_up^T)
// Why: as separate kernels, while attention runs only the o projection's weights are in flight (its blocks hold their
// first rows in registers), and gate_up's blocks cannot start before o's have left the multiprocessors; on the H200 the
// 1.5B spends ~5 us of a ~36 us layer in attention and ~2 us in the norm with the memory mostly idle (run 20's timeline).
// Here each block copies its o rows and then as many of its gate_up rows as its shared memory holds from the moment it
// starts (bulk copies, cp.async.bulk, before its wait for attention), paced so that attention's loads, the barrier and the
// norm do not queue behind them (the copy warp, below), so the weights go on streaming through attention, o and the norm;
// one grid barrier stands where the norm's launch was, since the norm needs every o row. The backend takes it for
// one-token steps whose attention is one launch of one split and where it measured faster (CudaBackend.OGateUpStep).
// The arithmetic is the separate kernels' (bit for bit): a row is summed as gemv.cu's wide layout sums it (a group of G
// threads, G its wide block size for k; thread q takes chunks q, q + G, ... in order, then the group's warp sums are added
// in warp order), the residual add and the norm's sum of squares as add_rmsnorm (its first 256 threads, its chunks and
// its reduction), the product as GateUpSiluRows.
// Layout: GROUPS groups of G threads compute and one more warp copies. Block b takes o rows wide_first_row(hidden, b,
// grid) .. and gate_up pairs wide_first_pair_row(2 * inter, b, grid) / 2 ..; they stream through a ring of `stages`
// buffers of 2 * GROUPS rows, each filled by the copy warp's lane 0 with one bulk copy of consecutive o rows, or two of
// GROUPS consecutive gate rows and their up rows, completing on a "full" mbarrier and freed on an "empty" one once every
// compute warp is done with it (one copy a row made that lane the bottleneck: the 1.5B's gate_up streamed at 2.6 TB/s).
// Group g takes rows g and GROUPS + g of each o stage, pair g of each gate_up stage.
// The barrier counts arrivals on a 64-bit counter that only grows (every launch on it adds its grid), so it needs no
// reset: a block reads the count at its start (a multiple of the grid: no other launch's block can be on its
// multiprocessor then, as a block takes over half its shared memory) and waits for the next multiple. Every launch on
// one counter must use the same grid, and every block must be resident at once: grid = at most the multiprocessors
// (OGateUp.Create: those one token's attention leaves free).
// block: GROUPS * G + 32; hidden == qSize (the host checks), a multiple of 8, at most 8192.
// dynamic shared memory: stages * 2 * GROUPS * hidden * 2 + hidden * 4 (the normalized row, the norm's weight)
// + 4 * maxRows * G / 32 (the partial sums, rounded up to 8 bytes) + 16 * stages + 8 (the mbarriers), maxRows the most o
// rows plus gate_up rows a block takes.
#include "gemv.cuh"
#include "tensor_core.cuh"

#define OGU_CPT 5 // gemv.cu's CPT: chunks of a row per thread at most

// GEMV_TIMELINE (timing only, as gemv.cu's): thread 0 of each block writes the global timer (ns) into
// ogu_timeline[block][k] at its entry (0), when its wait returns (1), when its first o row is summed (2: attention's row
// has arrived), when its o rows are multiplied (3), when its residual rows are stored (4), when its arrival is posted
// (5), past the grid barrier (6), when the residual's sum of squares is known (7), when the norm's weight is there (8),
// when the normalized row is ready (9), when its gate_up rows are multiplied (10) and at its end (11); the copy thread
// when it issues its first copy after the quiet period (12) and when it has issued its last (13); thread 0 also when
// attention's row and its residual rows have arrived (14) and when the o stage is there (15). Every layer overwrites the
// last.
#ifdef GEMV_TIMELINE
#define OGU_STAMPS 16
__device__ unsigned long long ogu_timeline[1024][OGU_STAMPS];
#define OGU_STAMP(k) \
    do { if ((threadIdx.x == 0 || (k) == 12 || (k) == 13) && blockIdx.x < 1024) ogu_timeline[blockIdx.x][k] = global_ns(); } while (0)
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

// Every compute thread's writes before it are visible to every block's compute threads after it; target: the count at
// the block's start rounded down to the grid, plus the grid. A releasing add that returns nothing: one round trip less
// than an atomicAdd whose old value would give the target (run 21: a barrier took 3.3 us with it).
__device__ __forceinline__ void grid_barrier(unsigned long long* arrivals, unsigned long long target, int threads)
{
    compute_sync(threads);
    if (threadIdx.x == 0)
    {
        asm volatile("red.release.gpu.global.add.u64 [%0], 1;" ::"l"(arrivals) : "memory");
        OGU_STAMP(5);
        while (load_acquire_u64(arrivals) < target) { }
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

// One row's sum over a group: thread q's chunks q, q + G, ... of the row in shared memory with its x chunks, then the
// warp's sum (gemv.cu's wide order).
__device__ __forceinline__ float row_sum(const uint4* row, const uint4 (&xv)[OGU_CPT], int q, int G, int chunks)
{
    float acc = 0.f;
#pragma unroll
    for (int c = 0; c < OGU_CPT; c++)
        if (q + c * G < chunks) fma8(acc, row[q + c * G], xv[c]);
    return warp_sum(acc);
}

// Every compute warp is done with stage t's buffer.
__device__ __forceinline__ void release_stage(unsigned emptyBars, int t, int stages)
{
    __syncwarp();
    if ((threadIdx.x & 31) == 0) mbarrier_arrive(emptyBars + 8 * (t % stages));
}

extern "C" __global__ void __launch_bounds__(1024) gemv_o_gate_up(const bf16* __restrict__ attn, const bf16* __restrict__ wO, bf16* __restrict__ residual,
    const bf16* __restrict__ normWeight, float eps, const bf16* __restrict__ wGateUp, int inter, bf16* __restrict__ act, int hidden, int G,
    int stages, int maxRows, unsigned long long* __restrict__ arrivals, unsigned paceNs)
{
    launch_next_grid_always(); // one token only
    OGU_STAMP(0);
    extern __shared__ __align__(128) unsigned char smem[];
    const int chunks = hidden / 8, rowBytes = hidden * 2, groups = (blockDim.x - 32) / G, computeThreads = groups * G, warps = G >> 5;
    const int stageRows = 2 * groups, stageBytes = stageRows * rowBytes;
    uint4* ring = (uint4*)smem;
    uint4* xs = (uint4*)(smem + (long long)stages * stageBytes);
    const uint4* normShared = xs + chunks; // the norm's weight, copied in with the first rows
    float* partial = (float*)(normShared + chunks);
    const unsigned fullBars = smem_address(partial + ((maxRows * warps + 1) & ~1)), emptyBars = fullBars + 8 * stages; // 8-byte aligned
    const unsigned normBar = emptyBars + 8 * stages;
    __shared__ float scratch[32];
    __shared__ volatile int oDone, normDone; // the copy warp's cues: the o rows are multiplied, the normalized row is ready

    const int oFirst = wide_first_row(hidden, blockIdx.x, gridDim.x), oRows = wide_first_row(hidden, blockIdx.x + 1, gridDim.x) - oFirst;
    const int pairFirst = wide_first_row(inter, blockIdx.x, gridDim.x), pairs = wide_first_row(inter, blockIdx.x + 1, gridDim.x) - pairFirst;
    const int oStages = (oRows + stageRows - 1) / stageRows, total = oStages + (pairs + groups - 1) / groups;
    if (threadIdx.x == 0)
    {
        for (int t = 0; t < stages; t++)
        {
            mbarrier_init(fullBars + 8 * t, 1);
            mbarrier_init(emptyBars + 8 * t, computeThreads >> 5);
        }
        mbarrier_init(normBar, 1);
        normDone = oDone = 0;
        fence_mbarrier_init();
    }
    __syncthreads();

    if (threadIdx.x >= computeThreads)
    {
        // The copy warp: weights only, so it never waits for the kernel ahead. Until the normalized row is ready it issues
        // copies at most at the host's rate for the whole grid (paceNs a stage's bytes), and none between the o rows'
        // products and the normalized row: the loads that attention, the barrier and the norm wait on are dependent L2
        // round trips, which took ~150 ns with the memory idle, ~230 at 3.7 TB/s of weights streaming and 700-900 at 4.5
        // (tools/gpu/latency_under_stream.cu). While it waits it sleeps between looks at the clock (the 1.5B step 0.5-1%
        // faster than spinning, run 24; 256 ns sleeps were 2% slower).
        if (threadIdx.x != computeThreads) return;
        mbarrier_arrive_expect_bytes(normBar, rowBytes);
        bulk_copy_weights(smem_address(normShared), normWeight, rowBytes, normBar);
        unsigned long long issued = 0, owed = 0; // when the last copy went out, and the ns its bytes owe the pace
        // waits until the last copy is paid for, and out of the quiet period; a copy of `rows` rows then owes their share
        // of a stage's time. gate's and up's rows each pay for their own half: issued together, the 1.5B step was 1% faster
        // than the separate kernels (run 24, call 6), one by one 4% (call 7)
        const auto paced = [&](int rows)
        {
            while (!normDone && (global_ns() - issued < owed || oDone)) __nanosleep(64);
            issued = global_ns();
            owed = (unsigned long long)paceNs * rows / stageRows;
        };
        for (int t = 0; t < total; t++)
        {
            const int buffer = t % stages;
            const unsigned full = fullBars + 8 * buffer, at = smem_address(ring) + buffer * stageBytes;
            if (t >= stages) mbarrier_wait(emptyBars + 8 * buffer, (t / stages - 1) & 1);
            if (t < oStages)
            {
                const int first = t * stageRows, n = min(stageRows, oRows - first);
                mbarrier_arrive_expect_bytes(full, n * rowBytes);
                paced(n);
                bulk_copy_weights(at, wO + (long long)(oFirst + first) * hidden, n * rowBytes, full);
            }
            else
            {
                const int first = (t - oStages) * groups, n = min(groups, pairs - first);
                const bf16* gate = wGateUp + (long long)(pairFirst + first) * hidden;
                mbarrier_arrive_expect_bytes(full, 2 * n * rowBytes);
                paced(n);
#ifdef GEMV_TIMELINE
                if (normDone && ogu_timeline[blockIdx.x][12] < ogu_timeline[blockIdx.x][0]) OGU_STAMP(12);
#endif
                bulk_copy_weights(at, gate, n * rowBytes, full);
                paced(n);
                bulk_copy_weights(at + groups * rowBytes, gate + (long long)inter * hidden, n * rowBytes, full);
            }
        }
        OGU_STAMP(13);
        return;
    }

    const int g = threadIdx.x / G, q = threadIdx.x % G, lane = threadIdx.x & 31;
    // The barrier's count at the start (no kernel ahead writes it; see above).
    unsigned long long target = 0;
    if (threadIdx.x == 0) target = (load_acquire_u64(arrivals) / gridDim.x + 1) * gridDim.x;
    uint4 xv[OGU_CPT];
    bf16 old;
    // Pass 0 runs the o rows' code before the wait, on zeros (no global loads or stores, no stage released, the stages
    // the ring holds at first), so that its instructions are in the SM's caches when attention ends: the 1.5B step
    // 0.4% faster (run 24, call 16: 1.080-1.081 ms against 1.084-1.088, three alternations). Pass 1 is the real one.
#pragma unroll 1
    for (int pass = 0; pass < 2; pass++)
    {
        const bool live = pass == 1;
        if (live)
        {
            wait_for_previous_grid();
            OGU_STAMP(1);
        }
        // this block's o rows of the residual, requested now so that they arrive while the o rows are multiplied
        old = live && threadIdx.x < oRows ? __ldcg(residual + oFirst + threadIdx.x) : __float2bfloat16(0.f);
        // o: attention's output row, this thread's chunks of it
#pragma unroll
        for (int c = 0; c < OGU_CPT; c++)
            xv[c] = live && q + c * G < chunks ? load_after_wait((const uint4*)attn + q + c * G) : make_uint4(0, 0, 0, 0);
#ifdef GEMV_TIMELINE
        // stamp 14 once attention's row and the residual's rows have arrived (a branch on them waits for the loads; the
        // compiler may still read the timer first, so stamps 14 and 15 together time the loads and the stage test)
        if ((xv[0].x ^ xv[1].y ^ xv[2].z ^ __bfloat16_as_ushort(old)) == 0x9E3779B9u) scratch[31] = 0.f;
        if (live) OGU_STAMP(14);
#endif
        for (int t = 0; t < (live ? oStages : min(oStages, stages)); t++)
        {
            mbarrier_wait(fullBars + 8 * (t % stages), (t / stages) & 1);
            if (t == 0 && live) OGU_STAMP(15);
            const uint4* stage = ring + (long long)(t % stages) * stageRows * chunks;
            for (int k = g; k < stageRows; k += groups)
            {
                const int r = t * stageRows + k;
                if (r >= oRows) break;
                const float v = row_sum(stage + (long long)k * chunks, xv, q, G, chunks);
                if (lane == 0) partial[r * warps + (q >> 5)] = v;
                if (t == 0 && k == g && live) OGU_STAMP(2);
            }
            if (live) release_stage(emptyBars, t, stages);
        }
        compute_sync(computeThreads);
    }
    if (threadIdx.x == 0) oDone = 1;
    OGU_STAMP(3);
    // the o rows into the residual stream, as add_rmsnorm adds them: bf16(residual + bf16(sum))
    if (threadIdx.x < oRows)
    {
        float v = 0.f;
        for (int w = 0; w < warps; w++) v += partial[threadIdx.x * warps + w];
        residual[oFirst + threadIdx.x] = __float2bfloat16(__bfloat162float(old) + __bfloat162float(__float2bfloat16(v)));
    }
    OGU_STAMP(4);
    grid_barrier(arrivals, target, computeThreads);
    OGU_STAMP(6);

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
    OGU_STAMP(7);
    mbarrier_wait(normBar, 0);
    OGU_STAMP(8);
#pragma unroll
    for (int j = 0; j < 4; j++)
    {
        const int c = threadIdx.x + j * 256;
        if (threadIdx.x < 256 && c < chunks) xs[c] = rms_normalized8(v[j], scale, normShared[c]);
    }
    compute_sync(computeThreads);
    if (threadIdx.x == 0) normDone = 1;
    OGU_STAMP(9);

    // gate_up: pair p's gate and up rows go to the block's rows 2p and 2p + 1 (GateUpSiluRows's order)
#pragma unroll
    for (int c = 0; c < OGU_CPT; c++) xv[c] = q + c * G < chunks ? xs[q + c * G] : make_uint4(0, 0, 0, 0);
    float* pairPartial = partial + oRows * warps;
    for (int t = oStages; t < total; t++)
    {
        mbarrier_wait(fullBars + 8 * (t % stages), (t / stages) & 1);
        const uint4* stage = ring + (long long)(t % stages) * stageRows * chunks;
        const int p = (t - oStages) * groups + g;
        if (p < pairs)
        {
            const float gate = row_sum(stage + (long long)g * chunks, xv, q, G, chunks);
            const float up = row_sum(stage + (long long)(groups + g) * chunks, xv, q, G, chunks);
            if (lane == 0)
            {
                pairPartial[2 * p * warps + (q >> 5)] = gate;
                pairPartial[(2 * p + 1) * warps + (q >> 5)] = up;
            }
        }
        release_stage(emptyBars, t, stages);
    }
    compute_sync(computeThreads);
    OGU_STAMP(10);
    const GateUpSiluRows out{act, inter};
    const int guRows = 2 * pairs;
    for (int base = (threadIdx.x >> 5) * 32; base < guRows; base += computeThreads)
    {
        const int j = base + lane;
        float sum = 0.f;
        if (j < guRows)
            for (int w = 0; w < warps; w++) sum += pairPartial[j * warps + w];
        out.store(sum, 2 * pairFirst + j, j < guRows);
    }
    OGU_STAMP(11);
}
