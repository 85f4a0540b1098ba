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
//   gemv_wide, gemv_wide_silu: one token, as gemv / gemv_silu, laid out for long rows (below); gemv_wide_qkv also
//                 finishes the qkv rows as qkv_finish.cu would (bias, RoPE, cache write), and gemv_wide_gate_up ends
//                 the gate_up projection with silu_mul.cu's product.
// A block's input costs L2 reads in proportion to k whatever its rows (the norm's: its sums of squares, then residual,
// delta and weight per chunk), so the fused forms take more rows per block than the plain one to keep that small next
// to the weights they stream. The plain form's ROWS and UNROLL are the H200 sweep's best for one token; the fused forms'
// were chosen by that reasoning and measured only as whole decode steps (docs/benchmarks/cuda-h200.md). Gemm.cs's rows
// per block must match them.
#include "gemv.cuh"

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

// An input's chunk c for one token comes in two steps, fetch (its loads) and finish (what is computed from them), so
// that the wide layout can request all of a thread's chunks before it computes any (gemv_wide_rows). fetch reads with
// load_after_wait, not __ldg: ptxas moved gemv_wide's __ldg loads of x above the wait, and the one-token steps after a
// long prompt came out wrong (run 10).
struct PlainInput
{
    const bf16* x;
    int k;
    __device__ __forceinline__ uint4 load(int t, int c) const { return __ldg((const uint4*)(x + (long long)t * k) + c); }
    struct Raw { uint4 x; };
    __device__ __forceinline__ Raw fetch(int c) const { return {load_after_wait((const uint4*)x + c)}; }
    static __device__ __forceinline__ uint4 finish(Raw r) { return r.x; }
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
        return silu_times8(__ldg((const uint4*)row + c), __ldg((const uint4*)(row + k) + c));
    }
    struct Raw { uint4 gate, up; };
    __device__ __forceinline__ Raw fetch(int c) const
    {
        return {load_after_wait((const uint4*)gateUp + c), load_after_wait((const uint4*)(gateUp + k) + c)};
    }
    static __device__ __forceinline__ uint4 finish(Raw r) { return silu_times8(r.gate, r.up); }
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
                    wv[u][r] = j + 32 * u < count ? load_weights(wr[r] + c0 + j + 32 * u) : make_uint4(0, 0, 0, 0);
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
    launch_next_grid_always(); // one token only
    wait_for_previous_grid();
    gemv_rows<ROWS, UNROLL>(PlainInput{x, k}, tokens, w, n, k, y, ldy, floatOutput);
}

extern "C" __global__ void __launch_bounds__(256) gemv_rmsnorm(const bf16* __restrict__ residual, const bf16* __restrict__ delta,
    const bf16* __restrict__ normWeight, float eps, bf16* __restrict__ residualOut, int tokens, const bf16* __restrict__ w, int n, int k,
    void* __restrict__ y, int ldy, int floatOutput)
{
    launch_next_grid_always(); // one token only
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
                if (delta != nullptr) rv = add_residual8(rv, __ldg((const uint4*)(delta + (long long)t * k) + c));
                add_squares8(s[t], rv);
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
    launch_next_grid_always(); // one token only
    wait_for_previous_grid();
    gemv_rows<SILU_ROWS, SILU_UNROLL>(SiluInput{gateUp, k}, tokens, w, n, k, y, ldy, floatOutput);
}

// The wide layout, for one token: a block's threads split each row's k between them, CPT 16-byte chunks per thread
// (thread i takes chunks i, i + blockDim, ...), and hold their chunks of x in registers for the whole kernel, so there
// is no shared-memory slab and no barrier until the end. The block walks its run of consecutive rows WIDE_ROWS at a time
// (WIDE_ROWS * CPT loads in flight per thread); each load instruction of the block reads blockDim * 16 contiguous bytes
// of one row. The row-per-warp layout above gives each warp its own row: 3584 warps each streaming a 37 KB row of the
// 7B down projection ran at 3.4 TB/s on the H200 where gate_up's 7 KB rows ran at 4.2. The grid is as many blocks as
// fit on the GPU at once (or more, at most WIDE_MAX_ROWS rows each), the rows shared out evenly between them. The first
// rows' weights are requested before waiting for the previous kernel (they are not its output: load_weights_before_wait).
// Each row's warp sums meet in shared memory and are added in warp order, so results do not depend on timing.
// block: 32 * ceil(k / 8 / CPT / 32) threads (<= 512); grid: >= ceil(n / WIDE_MAX_ROWS).
#ifndef CPT
#define CPT 5
#endif
#ifndef WIDE_ROWS
#define WIDE_ROWS 2
#endif
#define WIDE_MAX_ROWS 32

// The first rows, before the wait: volatile coherent loads (ld.global, not .nc), which ptxas keeps ahead of the wait as
// it keeps load_after_wait behind it. With plain __ldg, ptxas (CUDA 13) put them all after the wait, with no head start
// (a chain of the 1.5B layers' projections took 1.04 ms against 0.89 with them ahead: tools/gpu/kernel_boundary.cu, run
// 10). Until run 20 the wait depended on their data instead, which held it, and x's loads after it, until they had
// arrived: a 1.5B gate_up's waits returned over 1.2 us, with them over 32 ns (run 20's timeline), and whole steps were
// the same or up to 0.3% faster (1.5B 1.133-1.135 ms both ways, 7B 3.559-3.560 against 3.570-3.572 at 128 positions).
__device__ __forceinline__ uint4 load_weights_before_wait(const uint4* p)
{
    uint4 v;
    asm volatile("ld.global.L1::no_allocate.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p), "l"(evict_first_policy()) : "memory");
    return v;
}

// The qkv epilogue's own inputs (position, cache slot, RoPE frequency, bias), for the lanes of warp 0 that store the
// block's rows, loaded with the first rows' weights before the wait (as volatile loads, which stay there): none is a
// kernel's output (the step's inputs come in a copy ahead of its first kernel; attention reads its block table as
// early), and after the block's sums they were one more L2 round trip between the sums and the stores. On the H200
// (run 21, alternated twice) device ms a step with them early, then read by QkvRows::store: 1.5B 1.147-1.148 against
// 1.150 at 128 positions, 1.198 against 1.207 at 1024; 7B 3.638-3.639 against 3.643, 3.685-3.686 against 3.694. Other
// rows' kinds have none.
template <class Rows> __device__ __forceinline__ void load_inputs_before_wait(Rows&, int, int) { }

__device__ __forceinline__ QkvRows::Inputs load_qkv_inputs(const QkvRows& out, int r)
{
    const int row = out.weight_row(r);
    int position, slot;
    float freq;
    unsigned short bias = 0;
    asm volatile("ld.global.u32 %0, [%1];" : "=r"(position) : "l"(out.positions) : "memory");
    asm volatile("ld.global.u32 %0, [%1];" : "=r"(slot) : "l"(out.slots) : "memory");
    asm volatile("ld.global.f32 %0, [%1];" : "=f"(freq) : "l"(out.freq_of(row)) : "memory");
    if (out.bias != nullptr) asm volatile("ld.global.u16 %0, [%1];" : "=h"(bias) : "l"(out.bias + row) : "memory");
    return {(float)position, freq, __bfloat162float(__ushort_as_bfloat16(bias)), slot};
}

__device__ __forceinline__ void load_inputs_before_wait(QkvRows& out, int row0, int rows)
{
    const int lane = threadIdx.x & 31;
    out.early = threadIdx.x < 32 && lane < rows ? load_qkv_inputs(out, row0 + lane) : QkvRows::Inputs{0.f, 0.f, 0.f, -1};
    out.hasEarly = true;
}

template <class Rows, bool BEFORE_WAIT = false>
__device__ __forceinline__ void load_wide_rows(uint4 (&wv)[WIDE_ROWS][CPT], const bf16* __restrict__ w, const Rows& out, int first, int last, int k)
{
    const int chunks = k / 8;
#pragma unroll
    for (int u = 0; u < WIDE_ROWS; u++)
    {
        const uint4* row = (const uint4*)(w + (long long)out.weight_row(min(first + u, last)) * k);
#pragma unroll
        for (int i = 0; i < CPT; i++)
        {
            int c = threadIdx.x + i * blockDim.x;
            if constexpr (BEFORE_WAIT) wv[u][i] = c < chunks ? load_weights_before_wait(row + c) : make_uint4(0, 0, 0, 0);
            else wv[u][i] = c < chunks ? load_weights(row + c) : make_uint4(0, 0, 0, 0);
        }
    }
}

// GEMV_TIMELINE (timing only): thread 0 of each wide block writes the global timer (ns) at its entry, when its wait
// returns, when its first rows' products are done (x has arrived) and at its end into gemv_timeline[slot][block][0..3],
// and its multiprocessor's id into [4], slot 0 qkv, 1 gate_up, 2 o (other plain rows of k <= 4096), 3 down (k > 4096),
// 4 the lm_head (n > 32768); every layer overwrites the last, so a step leaves its last layer's (cuda-check's
// context-sweep prints them).
#ifdef GEMV_TIMELINE
#define GEMV_TIMELINE_BLOCKS 2048
__device__ unsigned long long gemv_timeline[5][GEMV_TIMELINE_BLOCKS][8];
__device__ __forceinline__ unsigned sm_id()
{
    unsigned id;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
    return id;
}
__device__ __forceinline__ int timeline_slot(const QkvRows&, int, int) { return 0; }
__device__ __forceinline__ int timeline_slot(const GateUpSiluRows&, int, int) { return 1; }
__device__ __forceinline__ int timeline_slot(const PlainRows&, int n, int k) { return n > 32768 ? 4 : k > 4096 ? 3 : 2; }
// after = a value the stamp must wait for (the asm's input), so that it is not taken before that value exists
#define GEMV_STAMP(slot, k, after) \
    do { if (threadIdx.x == 0 && blockIdx.x < GEMV_TIMELINE_BLOCKS) { unsigned long long g_; \
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g_) : "f"(after)); gemv_timeline[slot][blockIdx.x][k] = g_; } } while (0)
#else
#define GEMV_STAMP(slot, k, after) do { } while (0)
#endif

// The block's rows row0 .. row0 + rows - 1 from the first WIDE_ROWS of them in wv and this thread's chunks of x in xv:
// each next group of rows is requested before this group's warp sums, and each row's warp sums meet in shared memory
// and are added in warp order for out.store. tools/gpu/kernel_boundary.cu times it behind other waits.
template <class Rows>
__device__ __forceinline__ void multiply_wide_rows(uint4 (&wv)[WIDE_ROWS][CPT], const uint4 (&xv)[CPT], const bf16* __restrict__ w, int k,
    const Rows& out, int row0, int rows, int slot = 0)
{
    __shared__ float partial[WIDE_MAX_ROWS][33]; // [row][warp], padded
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int r = 0; r < rows; r += WIDE_ROWS)
    {
        float acc[WIDE_ROWS];
#pragma unroll
        for (int u = 0; u < WIDE_ROWS; u++)
        {
            acc[u] = 0.f;
#pragma unroll
            for (int i = 0; i < CPT; i++) fma8(acc[u], wv[u][i], xv[i]);
        }
        if (r == 0) GEMV_STAMP(slot, 2, acc[0]);
        if (r + WIDE_ROWS < rows) load_wide_rows(wv, w, out, row0 + r + WIDE_ROWS, row0 + rows - 1, k);
#pragma unroll
        for (int u = 0; u < WIDE_ROWS; u++)
        {
            float v = warp_sum(acc[u]);
            if (lane == 0 && r + u < rows) partial[r + u][warp] = v;
        }
    }
    __syncthreads();
    if (warp == 0) // rows <= 32
    {
        float v = 0.f;
        if (lane < rows)
            for (int i = 0; i < warps; i++) v += partial[lane][i];
        out.store(v, row0 + lane, lane < rows);
        GEMV_STAMP(slot, 3, v);
    }
}

template <class Input, class Rows>
__device__ __forceinline__ void gemv_wide_rows(const Input& in, const bf16* __restrict__ w, int n, int k, Rows out)
{
#ifdef GEMV_TIMELINE
    const int slot = timeline_slot(out, n, k);
    if (threadIdx.x == 0 && blockIdx.x < GEMV_TIMELINE_BLOCKS) gemv_timeline[slot][blockIdx.x][4] = sm_id();
#else
    const int slot = 0;
#endif
    GEMV_STAMP(slot, 0, 0.f);
    const int row0 = out.first(n, blockIdx.x), rows = out.first(n, blockIdx.x + 1) - row0;
    uint4 wv[WIDE_ROWS][CPT];
    load_wide_rows<Rows, true>(wv, w, out, row0, row0 + rows - 1, k);
    load_inputs_before_wait(out, row0, rows);
    wait_for_previous_grid();
    GEMV_STAMP(slot, 1, 0.f);
    // This thread's chunks of x, zero past k. All are requested before any is finished: built one chunk at a time, the
    // SiLU input's loads were not issued together (ptxas does not move loads across its division's calls), and a 7B down
    // projection waited on five L2 round trips in a row (tools/gpu/kernel_boundary.cu, run 10).
    typename Input::Raw raw[CPT];
#pragma unroll
    for (int i = 0; i < CPT; i++)
    {
        int c = threadIdx.x + i * blockDim.x;
        raw[i] = c < k / 8 ? in.fetch(c) : typename Input::Raw{};
    }
    uint4 xv[CPT];
#pragma unroll
    for (int i = 0; i < CPT; i++)
    {
        int c = threadIdx.x + i * blockDim.x;
        xv[i] = c < k / 8 ? Input::finish(raw[i]) : make_uint4(0, 0, 0, 0);
    }
    multiply_wide_rows(wv, xv, w, k, out, row0, rows, slot);
}

// These wait for the previous kernel inside gemv_wide_rows, after requesting their first weights.
extern "C" __global__ void __launch_bounds__(512) gemv_wide(const bf16* __restrict__ x, const bf16* __restrict__ w, int n, int k,
    void* __restrict__ y, int floatOutput)
{
    launch_next_grid_always(); // one token only
    gemv_wide_rows(PlainInput{x, k}, w, n, k, PlainRows{y, floatOutput});
}

extern "C" __global__ void __launch_bounds__(512) gemv_wide_silu(const bf16* __restrict__ gateUp, const bf16* __restrict__ w, int n, int k,
    void* __restrict__ y, int floatOutput)
{
    launch_next_grid_always(); // one token only
    gemv_wide_rows(SiluInput{gateUp, k}, w, n, k, PlainRows{y, floatOutput});
}

// act[m] = silu(x . W[m]) * (x . W[intermediate + m]) for m < intermediate: gate_up with silu_mul after it, so that the
// SiLU is computed once per element here instead of by every block of the down projection (where it cost a 7B step
// ~6 us a layer, before the first multiply: tools/gpu/kernel_boundary.cu, run 10). grid: at most intermediate blocks.
extern "C" __global__ void __launch_bounds__(512) gemv_wide_gate_up(const bf16* __restrict__ x, const bf16* __restrict__ w, int intermediate,
    int k, bf16* __restrict__ act)
{
    launch_next_grid_always(); // one token only
    gemv_wide_rows(PlainInput{x, k}, w, 2 * intermediate, k, GateUpSiluRows{act, intermediate});
}

// n = (heads + 2 * kvHeads) * headDim rows, headDim even; grid: at most n / 2 blocks, at least n / WIDE_MAX_ROWS.
extern "C" __global__ void __launch_bounds__(512) gemv_wide_qkv(const bf16* __restrict__ x, const bf16* __restrict__ w, int n, int k,
    bf16* __restrict__ qkv, const bf16* __restrict__ bias, const int* __restrict__ positions, const float* __restrict__ invFreq,
    const int* __restrict__ slots, bf16* __restrict__ kCache, bf16* __restrict__ vCache, int heads, int kvHeads, int headDim)
{
    launch_next_grid_always(); // one token only
    gemv_wide_rows(PlainInput{x, k}, w, n, k, QkvRows{qkv, bias, positions, invFreq, slots, kCache, vCache, heads, kvHeads, headDim});
}
