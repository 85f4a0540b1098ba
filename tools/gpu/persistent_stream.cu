// How fast a grid of one block an SM can stream a one-token GEMV's weights, against gemv.cu's wide grids: the first
// question for a whole-step kernel (issue 8, docs/benchmarks/cuda-h200.md, run 22's "Next"), whose blocks must stay
// resident for the whole step. decode_step.cu's per-thread cp.async rings streamed the 1.5B gate_up in 17.2 us a layer
// where gemv_wide_gate_up takes 14.6 from its wait (run 12's profile); is that the rings or the rest of that kernel?
// Ways of moving W, each on the 1.5B's gate_up (k = 1536) and down (k = 8960) shapes:
//   wide          gemv.cu's gemv_wide on the backend's grid (as many 64- or 224-thread blocks as fit, or more)
//   ldg D         one block an SM of 512 threads in groups of the wide block size; a group takes the block's rows in
//                 turn, D rows a thread in registers (gemv.cu's layout; it keeps 2)
//   ring S        the same groups, each thread's rows through its own ring of S slots in shared memory, 16-byte
//                 cp.async, one commit group a row (decode_step.cu's way)
//   bulk NS       one producer lane copies stages of consecutive rows (one cp.async.bulk each) into NS stages of shared
//                 memory; 15 consumer warps take a row a team (1 warp for k = 1536, 5 for 8960), "full" and "empty"
//                 mbarriers between them
// Each is timed on 28 layers' rows in one launch (the rate it settles at) and on one layer's rows a launch, 28 launches
// of different layers back to back (its ramp and tail included, launch gaps too), and checked against wide's output.
// Then layer boundaries: 28 layers in one launch with a grid barrier between them (phases): ldg 2 with its threads'
// next rows requested before each barrier or after it, and bulk with its producer copying on across the barriers into
// free stages, or claiming its stages' rows from a counter a layer and going on to a layer once the one before is done
// (stages_claimed), or claiming only a layer's last rows (stages_tail); against 28 wide launches with programmatic
// dependent launch. For the stage forms with grid barriers, when the blocks finished a middle layer and passed its barrier;
// and the bulk stages ahead with fewer or smaller stages (less in flight).
// Build and run on the GPU machine:
//   nvcc -O3 -std=c++17 -arch=sm_90 -o /tmp/persistent_stream tools/gpu/persistent_stream.cu && /tmp/persistent_stream
// (tools/gpu/all.sh run stream does that and keeps the log).
#include "../../ReasoningServe.Inference/Backends/Cuda/Kernels/gemv.cu"
#include "../../ReasoningServe.Inference/Backends/Cuda/Kernels/tensor_core.cuh"

#ifndef __CUDACC_RTC__ // host code: the kernels alone also build with NVRTC, which is how they were checked where there is no nvcc
#include "bench.cuh"
#include <cmath>
#endif

constexpr int THREADS = 512;

__global__ void fill_bf16(bf16* p, long long count, unsigned seed, float scale)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x)
    {
        const unsigned h = (unsigned)(i * 0x9E3779B1ull >> 7) ^ (seed * 0x85EBCA6Bu);
        p[i] = __float2bfloat16(((h % 65521u) / 32760.5f - 1.f) * scale);
    }
}

// A warp's sum for a row, added into y (fp32; its warps add in any order, so the checks allow rounding).
__device__ __forceinline__ void add_row(float* y, int row, float acc)
{
    const float v = warp_sum(acc);
    if ((threadIdx.x & 31) == 0) atomicAdd(y + row, v);
}

__device__ __forceinline__ void dot_chunks(float& acc, const uint4* w, const uint4* x, int count)
{
    for (int i = 0; i < count; i++) fma8(acc, w[i], x[i]);
}

// ldg D: group g (G threads) takes rows r0 + g, r0 + g + groups, ...; thread q its C chunks q, q + G, ...
template <int D, int C>
__global__ void __launch_bounds__(THREADS, 1) groups_ldg(const bf16* __restrict__ x, const bf16* __restrict__ w, int n, int k, int G, float* y)
{
    const int groups = blockDim.x / G, g = threadIdx.x / G, q = threadIdx.x % G, chunks = k / 8;
    if (g >= groups) return;
    const int r0 = wide_first_row(n, blockIdx.x, gridDim.x), r1 = wide_first_row(n, blockIdx.x + 1, gridDim.x);
    uint4 xv[C];
#pragma unroll
    for (int i = 0; i < C; i++) xv[i] = q + i * G < chunks ? __ldg((const uint4*)x + q + i * G) : make_uint4(0, 0, 0, 0);
    uint4 wv[D][C];
    auto load = [&](uint4 (&dst)[C], int r)
    {
#pragma unroll
        for (int i = 0; i < C; i++)
        {
            const int c = q + i * G;
            dst[i] = r < r1 && c < chunks ? load_weights((const uint4*)(w + (long long)r * k) + c) : make_uint4(0, 0, 0, 0);
        }
    };
#pragma unroll
    for (int d = 0; d < D; d++) load(wv[d], r0 + g + d * groups);
    for (int base = r0 + g; base < r1; base += D * groups)
    {
#pragma unroll
        for (int d = 0; d < D; d++)
        {
            const int r = base + d * groups;
            if (r >= r1) break;
            float acc = 0.f;
#pragma unroll
            for (int i = 0; i < C; i++) fma8(acc, wv[d][i], xv[i]);
            load(wv[d], r + D * groups);
            add_row(y, r, acc);
        }
    }
}

// phases: the ldg 2 layout over `phases` layers' rows in one launch, a grid barrier between layers (each layer's x read
// after it, as a step's projections read the one before's output); PREFETCH: a thread's next rows run on across the
// barrier (the next layer's first rows requested before it), as decode_step.cu's rings do. Each thread's rows of a
// layer are padded to a multiple of 2 (skipped) so that a row's register slot stays its index's parity.
// The global timer into stamps[layer][block][k] (k 0: the block's rows of the layer done, 1: past its hand-over).
__device__ __forceinline__ void stamp(unsigned long long* stamps, int layer, int k)
{
    if (stamps == nullptr) return;
    stamps[((long long)layer * gridDim.x + blockIdx.x) * 2 + k] = global_ns();
}

// The bulk forms' consumers: every warp but warp 0, which produces.
constexpr int CONSUMERS = THREADS / 32 - 1;

// The barrier of the threads that take part in a grid barrier: the whole block, or the consumer warps (named barrier 1).
struct WholeBlock
{
    __device__ __forceinline__ void operator()() const { __syncthreads(); }
};

struct ConsumerWarps
{
    __device__ __forceinline__ void operator()() const { asm volatile("bar.sync 1, %0;" ::"r"(CONSUMERS * 32) : "memory"); }
};

// Every block's `leader` thread counts the block in and waits for all of them, between two sync()s of the threads
// taking part; with stamps, it stamps its arrival and its passing as layer `layer`'s.
template <class Sync>
__device__ __forceinline__ void grid_barrier(unsigned* arrivals, unsigned& target, Sync sync, int leader = 0, unsigned long long* stamps = nullptr,
    int layer = 0)
{
    target += gridDim.x;
    sync();
    if (threadIdx.x == leader)
    {
        stamp(stamps, layer, 0);
        __threadfence();
        atomicAdd(arrivals, 1u);
        while (*(volatile unsigned*)arrivals < target) { }
        __threadfence();
        stamp(stamps, layer, 1);
    }
    sync();
}

template <bool PREFETCH, int C>
__global__ void __launch_bounds__(THREADS, 1) phases_ldg(const bf16* __restrict__ x, const bf16* __restrict__ w, int n, int k, int G, int phases,
    float* y, unsigned* arrivals)
{
    constexpr int D = 2;
    const int groups = blockDim.x / G, g = threadIdx.x / G, q = threadIdx.x % G, chunks = k / 8;
    const int r0 = wide_first_row(n, blockIdx.x, gridDim.x), r1 = wide_first_row(n, blockIdx.x + 1, gridDim.x);
    const bool active = g < groups;
    const int count = active && r0 + g < r1 ? (r1 - r0 - g + groups - 1) / groups : 0, padded = (count + D - 1) / D * D;
    auto load = [&](uint4 (&dst)[C], int phase, int j)
    {
        const bool valid = phase < phases && j < count;
        const uint4* row = (const uint4*)(w + ((long long)phase * n + r0 + g + (long long)j * groups) * k);
#pragma unroll
        for (int i = 0; i < C; i++)
        {
            const int c = q + i * G;
            dst[i] = valid && c < chunks ? load_weights(row + c) : make_uint4(0, 0, 0, 0);
        }
    };
    uint4 wv[D][C], xv[C];
    unsigned target = 0;
#pragma unroll
    for (int d = 0; d < D; d++) load(wv[d], 0, d);
    for (int phase = 0; phase < phases; phase++)
    {
        if (phase > 0) grid_barrier(arrivals, target, WholeBlock{});
#pragma unroll
        for (int i = 0; i < C; i++) xv[i] = active && q + i * G < chunks ? __ldcg((const uint4*)x + q + i * G) : make_uint4(0, 0, 0, 0);
        if (!PREFETCH && phase > 0)
#pragma unroll
            for (int d = 0; d < D; d++) load(wv[d], phase, d);
        for (int j = 0; j < padded; j += D)
        {
#pragma unroll
            for (int d = 0; d < D; d++)
            {
                float acc = 0.f;
#pragma unroll
                for (int i = 0; i < C; i++) fma8(acc, wv[d][i], xv[i]);
                const int next = j + d + D;
                if (next < padded) load(wv[d], phase, next);
                else if (PREFETCH) load(wv[d], phase + 1, next - padded);
                if (j + d < count) add_row(y + (long long)phase * n, r0 + g + (j + d) * groups, acc);
            }
        }
    }
}

// ring S: the same rows, each thread's chunks of them through its own S slots of shared memory ([S][cpt][THREADS], cpt
// the chunks a thread takes of a row).
template <int S>
__global__ void __launch_bounds__(THREADS, 1) groups_ring(const bf16* __restrict__ x, const bf16* __restrict__ w, int n, int k, int G, float* y)
{
    extern __shared__ __align__(16) uint4 ring[];
    const int groups = blockDim.x / G, g = threadIdx.x / G, q = threadIdx.x % G, chunks = k / 8;
    const int r0 = wide_first_row(n, blockIdx.x, gridDim.x), r1 = wide_first_row(n, blockIdx.x + 1, gridDim.x);
    const bool active = g < groups;
    uint4 xv[CPT];
#pragma unroll
    for (int i = 0; i < CPT; i++) xv[i] = active && q + i * G < chunks ? __ldg((const uint4*)x + q + i * G) : make_uint4(0, 0, 0, 0);
    const int count = active && r0 + g < r1 ? (r1 - r0 - g + groups - 1) / groups : 0, cpt = (chunks + G - 1) / G;
    auto request = [&](int t, int slot)
    {
        if (t < count)
        {
            const uint4* src = (const uint4*)(w + (long long)(r0 + g + t * groups) * k);
            for (int i = 0; i < cpt; i++)
            {
                const int c = q + i * G;
                cp_async16(smem_address(&ring[(slot * cpt + i) * THREADS + threadIdx.x]), c < chunks ? src + c : src, c < chunks ? 16 : 0);
            }
        }
        cp_async_commit();
    };
    for (int s = 0; s < S; s++) request(s, s);
    for (int t = 0; t < count; t++)
    {
        const int slot = t % S;
        cp_async_wait<S - 1>();
        float acc = 0.f;
#pragma unroll
        for (int i = 0; i < CPT; i++)
            if (i < cpt) fma8(acc, ring[(slot * cpt + i) * THREADS + threadIdx.x], xv[i]);
        request(t + S, slot);
        add_row(y, r0 + g + t * groups, acc);
    }
    cp_async_wait<0>();
}

// mbarriers and bulk copies: tensor_core.cuh's.

// The bulk forms' shared memory: x (k bf16, rounded up to 128 bytes) | slots [slots][rows][k] bf16 | full[slots] and
// empty[slots] mbarriers. Warp 0's lane 0 fills slot t % slots with stage t once its last use is released; the consumer
// warps take a stage's rows a team of `team` warps each and release the slot.
struct StageRing
{
    uint4* xs;
    unsigned char* base;
    unsigned bars;
    int slots, rows, rowBytes, chunks, team;
    int myTeam, member; // a consumer warp's team and its place in it

    // x and the mbarriers, before any thread goes on
    __device__ StageRing(unsigned char* smem, const bf16* x, int k, int team_, int slots_, int rows_)
        : slots(slots_), rows(rows_), rowBytes(k * 2), chunks(k / 8), team(team_), myTeam(((int)(threadIdx.x >> 5) - 1) / team_),
          member(((int)(threadIdx.x >> 5) - 1) % team_)
    {
        xs = (uint4*)smem;
        base = smem + (rowBytes + 127) / 128 * 128;
        bars = smem_address(base + (long long)slots * rows * rowBytes);
        for (int c = threadIdx.x; c < chunks; c += blockDim.x) xs[c] = __ldg((const uint4*)x + c);
        if (threadIdx.x == 0)
        {
            for (int s = 0; s < slots; s++)
            {
                mbarrier_init(full(s), 1);
                mbarrier_init(empty(s), CONSUMERS);
            }
            fence_mbarrier_init();
        }
        __syncthreads();
    }

    __device__ __forceinline__ unsigned full(int s) const { return bars + 8 * s; }
    __device__ __forceinline__ unsigned empty(int s) const { return bars + 8 * (slots + s); }

    // producer: stage t's slot once its last use is released (at once the first time)
    __device__ __forceinline__ int acquire(int t) const
    {
        const int s = t % slots;
        mbarrier_wait(empty(s), ((t / slots) & 1) ^ 1);
        return s;
    }

    // producer: count rows from src into slot s
    __device__ __forceinline__ void fill(int s, const bf16* src, int count) const
    {
        mbarrier_arrive_expect_bytes(full(s), count * rowBytes);
        bulk_copy_weights(smem_address(base + (long long)s * rows * rowBytes), src, count * rowBytes, full(s));
    }

    // producer: slot s full of nothing (the end, which the consumers read from the stage's own marks)
    __device__ __forceinline__ void end(int s) const { mbarrier_arrive(full(s)); }

    // consumers: stage t's slot once it is full
    __device__ __forceinline__ int ready(int t) const
    {
        const int s = t % slots;
        mbarrier_wait(full(s), (t / slots) & 1);
        return s;
    }

    // consumers: team i multiplies row i of the count rows in slot s by x into y[first + i]
    __device__ __forceinline__ void consume(int s, int count, float* y, int first) const
    {
        const int lane = threadIdx.x & 31;
        if (myTeam >= count) return;
        const uint4* wr = (const uint4*)(base + ((long long)s * rows + myTeam) * rowBytes);
        float acc = 0.f;
        for (int c = member * 32 + lane; c < chunks; c += team * 32) fma8(acc, wr[c], xs[c]);
        add_row(y, first + myTeam, acc);
    }

    // consumers: this warp is done with slot s
    __device__ __forceinline__ void release(int s) const
    {
        __syncwarp();
        if ((threadIdx.x & 31) == 0) mbarrier_arrive(empty(s));
    }

    // consumers: x again after a hand-over (the layer's input is the one before's output in a real step)
    __device__ __forceinline__ void reload_x(const bf16* x) const
    {
        for (int c = threadIdx.x - 32; c < chunks; c += CONSUMERS * 32) xs[c] = __ldcg((const uint4*)x + c);
        ConsumerWarps{}();
    }
};

// bulk: each block's rows in stages of `rowsPerStage` (0: one a consumer team) through `stages` slots; with phases,
// `phases` layers of n rows, the consumers meeting at a grid barrier between layers while the producer copies on.
__global__ void __launch_bounds__(THREADS, 1) stages_bulk(const bf16* __restrict__ x, const bf16* __restrict__ w, int n, int k, int team, int stages,
    float* y, int phases = 1, unsigned* arrivals = nullptr, unsigned long long* stamps = nullptr, int rowsPerStage = 0)
{
    extern __shared__ __align__(128) unsigned char smem[];
    const StageRing ring(smem, x, k, team, stages, rowsPerStage > 0 ? rowsPerStage : CONSUMERS / team); // consumer teams past it idle
    const int r0 = wide_first_row(n, blockIdx.x, gridDim.x), r1 = wide_first_row(n, blockIdx.x + 1, gridDim.x);
    const int count = (r1 - r0 + ring.rows - 1) / ring.rows; // stages a layer
    if (threadIdx.x < 32)
    {
        // The producer runs on across layers: only free slots hold it, never the consumers' grid barrier.
        if (threadIdx.x == 0)
            for (int t = 0; t < phases * count; t++)
            {
                const int layer = t / count, first = r0 + (t % count) * ring.rows;
                ring.fill(ring.acquire(t), w + ((long long)layer * n + first) * k, min(ring.rows, r1 - first));
            }
        return;
    }
    unsigned target = 0;
    for (int layer = 0; layer < phases; layer++)
    {
        if (layer > 0) // a grid barrier of the consumer warps, then x again
        {
            grid_barrier(arrivals, target, ConsumerWarps{}, 32, stamps, layer - 1);
            ring.reload_x(x);
        }
        for (int j = 0; j < count; j++)
        {
            const int s = ring.ready(layer * count + j), first = r0 + j * ring.rows;
            ring.consume(s, min(ring.rows, r1 - first), y + (long long)layer * n, first);
            ring.release(s);
        }
    }
}

// claimed: stages_bulk's layers, but a stage's rows are claimed from the layer's counter (claims[layer], by the producer
// lane, one claim ahead) instead of fixed per block, so that SMs that are done take more; the consumers go on to a
// layer once every row of the one before is done (done[layer], counted a stage at a time), not at a grid barrier.
__global__ void __launch_bounds__(THREADS, 1) stages_claimed(const bf16* __restrict__ x, const bf16* __restrict__ w, int n, int k, int team,
    int stages, float* y, int phases, unsigned* claims, unsigned* done)
{
    extern __shared__ __align__(128) unsigned char smem[];
    const StageRing ring(smem, x, k, team, stages, CONSUMERS / team);
    __shared__ int stageLayer[16], stageFirst[16];
    if (threadIdx.x < 32)
    {
        if (threadIdx.x == 0)
        {
            int layer = 0;
            unsigned next = atomicAdd(claims, (unsigned)ring.rows);
            for (int t = 0;; t++)
            {
                unsigned first = next;
                while (first >= (unsigned)n && ++layer < phases) first = atomicAdd(claims + layer, (unsigned)ring.rows);
                if (layer < phases) next = atomicAdd(claims + layer, (unsigned)ring.rows); // the next claim's round trip under this copy
                const int s = ring.acquire(t);
                stageLayer[s] = layer < phases ? layer : -1;
                stageFirst[s] = (int)first;
                if (layer >= phases)
                {
                    ring.end(s);
                    break;
                }
                ring.fill(s, w + ((long long)layer * n + first) * k, min(ring.rows, n - (int)first));
            }
        }
        return;
    }
    int current = 0;
    for (int t = 0;; t++)
    {
        const int s = ring.ready(t), layer = stageLayer[s], first = stageFirst[s];
        if (layer < 0) break;
        if (layer > current) // every row of the layers before done, then x again
        {
            if (threadIdx.x == 32)
            {
                while (*(volatile unsigned*)(done + layer - 1) < (unsigned)n) { }
                __threadfence();
            }
            ConsumerWarps{}();
            ring.reload_x(x);
            current = layer;
        }
        const int rows = min(ring.rows, n - first);
        ring.consume(s, rows, y + (long long)layer * n, first);
        __threadfence();
        ConsumerWarps{}();
        if (threadIdx.x == 32) atomicAdd(done + layer, (unsigned)rows);
        ring.release(s);
    }
}

// tail: stages_bulk's layers and grid barriers, but only a layer's first n - tail rows are shared out by count; the
// last tail rows are claimed a stage at a time from the layer's counter by the producers that get there first.
__global__ void __launch_bounds__(THREADS, 1) stages_tail(const bf16* __restrict__ x, const bf16* __restrict__ w, int n, int k, int team,
    int stages, float* y, int phases, int tail, unsigned* arrivals, unsigned* claims, unsigned long long* stamps)
{
    extern __shared__ __align__(128) unsigned char smem[];
    const StageRing ring(smem, x, k, team, stages, CONSUMERS / team);
    __shared__ int stageLayer[16], stageFirst[16];
    const int shared = n - tail, r0 = wide_first_row(shared, blockIdx.x, gridDim.x), r1 = wide_first_row(shared, blockIdx.x + 1, gridDim.x);
    const int count = (r1 - r0 + ring.rows - 1) / ring.rows;
    // the rows of a stage from row `first`: a block's share ends at r1, the claimed tail at n
    auto rowsFrom = [&](int first) { return min(ring.rows, (first < shared ? r1 : n) - first); };
    if (threadIdx.x < 32)
    {
        if (threadIdx.x == 0)
        {
            int t = 0;
            auto issue = [&](int layer, int first)
            {
                const int s = ring.acquire(t++);
                stageLayer[s] = layer;
                stageFirst[s] = first;
                if (layer < 0) ring.end(s);
                else ring.fill(s, w + ((long long)layer * n + first) * k, rowsFrom(first));
            };
            for (int layer = 0; layer < phases; layer++)
            {
                for (int j = 0; j < count; j++) issue(layer, r0 + j * ring.rows);
                for (unsigned o = atomicAdd(claims + layer, (unsigned)ring.rows); o < (unsigned)tail; o = atomicAdd(claims + layer, (unsigned)ring.rows))
                    issue(layer, shared + (int)o);
            }
            issue(-1, 0);
        }
        return;
    }
    unsigned target = 0;
    int current = 0;
    for (int t = 0;; t++)
    {
        const int s = ring.ready(t), layer = stageLayer[s], first = stageFirst[s];
        if (layer != current) // the layer's rows of every block done (a grid barrier), then x again
        {
            grid_barrier(arrivals, target, ConsumerWarps{}, 32, stamps, current);
            if (layer < 0) break;
            ring.reload_x(x);
            current = layer;
        }
        ring.consume(s, rowsFrom(first), y + (long long)layer * n, first);
        ring.release(s);
    }
}

#ifndef __CUDACC_RTC__
struct Shape
{
    const char* name;
    int n, k;
};

static int wide_grid(int n, int k, int sms, int& threads)
{
    threads = (k + 32 * 8 * CPT - 1) / (32 * 8 * CPT) * 32; // Gemm.WideThreads
    int perSm = 0;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, gemv_wide, threads, 0));
    return std::min(n, std::max(perSm * sms, (n + WIDE_MAX_ROWS - 1) / WIDE_MAX_ROWS)); // Gemm.WideBlocks, unbalanced
}

// StageRing's shared memory for rows of k: x, the slots, the mbarriers.
static int ring_bytes(int k, int slots, int rows) { return (k * 2 + 127) / 128 * 128 + slots * rows * k * 2 + 16 * slots; }

// The fastest of `reps` runs of launch() between two events, in ms; prepare() runs before each, untimed.
template <class Launch, class Prepare>
static float best_ms(cudaStream_t s, cudaEvent_t a, cudaEvent_t b, int reps, Launch launch, Prepare prepare)
{
    float best = 1e30f;
    for (int rep = 0; rep < reps; rep++)
    {
        prepare();
        CHECK(cudaEventRecord(a, s));
        launch();
        CHECK(cudaEventRecord(b, s));
        CHECK(cudaEventSynchronize(b));
        float ms;
        CHECK(cudaEventElapsedTime(&ms, a, b));
        best = std::min(best, ms);
    }
    CHECK(cudaGetLastError());
    return best;
}

template <class Launch>
static float best_ms(cudaStream_t s, cudaEvent_t a, cudaEvent_t b, int reps, Launch launch)
{
    return best_ms(s, a, b, reps, launch, [] {});
}

// The largest difference between y (fp32, on the device) and wide's output, over wide's largest output.
static float relative_error(const float* y, const std::vector<__nv_bfloat16>& wide)
{
    std::vector<float> got(wide.size());
    CHECK(cudaMemcpy(got.data(), y, got.size() * 4, cudaMemcpyDeviceToHost));
    float worst = 0.f, scale = 0.f;
    for (size_t i = 0; i < got.size(); i++)
    {
        const float ref = __bfloat162float(wide[i]);
        scale = std::max(scale, std::fabs(ref));
        worst = std::max(worst, std::fabs(got[i] - ref));
    }
    return worst / scale;
}

// One hand-over of the last run, from its stamps: when the blocks had done layer `layer`'s rows and when they passed its
// barrier, sorted, in ns after the first block was done.
struct Handover
{
    std::vector<long long> done, passed;
};

static Handover handover(const unsigned long long* stamps, int sms, int layers, int layer)
{
    std::vector<unsigned long long> t((size_t)layers * sms * 2);
    CHECK(cudaMemcpy(t.data(), stamps, t.size() * 8, cudaMemcpyDeviceToHost));
    unsigned long long origin = ~0ull;
    for (int block = 0; block < sms; block++) origin = std::min(origin, t[((size_t)layer * sms + block) * 2]);
    Handover h{std::vector<long long>(sms), std::vector<long long>(sms)};
    for (int block = 0; block < sms; block++)
    {
        h.done[block] = (long long)(t[((size_t)layer * sms + block) * 2] - origin);
        h.passed[block] = (long long)(t[((size_t)layer * sms + block) * 2 + 1] - origin);
    }
    std::sort(h.done.begin(), h.done.end());
    std::sort(h.passed.begin(), h.passed.end());
    return h;
}

int main()
{
    int sms = 0;
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    cudaStream_t s;
    CHECK(cudaStreamCreate(&s));
    cudaEvent_t a, b;
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&b));
    const int layers = 28;
    const Shape shapes[] = {{"1.5B gate_up", 17920, 1536}, {"1.5B down", 1536, 8960}};
    printf("%d SMs; TB/s = weight bytes / time; 'all' = 28 layers' rows in one launch (best of 5), 'layer' = 28 launches of one layer's rows each\n", sms);
    for (const Shape& shape : shapes)
    {
        const long long layerElems = (long long)shape.n * shape.k, total = layerElems * layers;
        bf16 *w, *x, *yWide;
        float* y;
        CHECK(cudaMalloc(&w, total * 2));
        CHECK(cudaMalloc(&x, shape.k * 2));
        CHECK(cudaMalloc(&yWide, (long long)shape.n * layers * 2));
        CHECK(cudaMalloc(&y, (long long)shape.n * layers * 4));
        fill_bf16<<<1024, 256, 0, s>>>(w, total, 7, 0.05f);
        fill_bf16<<<16, 256, 0, s>>>(x, shape.k, 11, 1.f);
        const int G = (shape.k + 32 * 8 * CPT - 1) / (32 * 8 * CPT) * 32;
        int wideThreads = 0;
        const int wideAll = wide_grid(shape.n * layers, shape.k, sms, wideThreads), wideLayer = wide_grid(shape.n, shape.k, sms, wideThreads);
        gemv_wide<<<wideAll, wideThreads, 0, s>>>(x, w, shape.n * layers, shape.k, yWide, 0);
        CHECK(cudaStreamSynchronize(s));
        std::vector<__nv_bfloat16> hostWide((size_t)shape.n * layers);
        CHECK(cudaMemcpy(hostWide.data(), yWide, hostWide.size() * 2, cudaMemcpyDeviceToHost));
        const int team = (shape.k / 8 + 32 * 8 - 1) / (32 * 8);
        const int rowBytes = shape.k * 2, stageBytes = (CONSUMERS / team) * rowBytes;
        const int stages = std::min(8, (200 * 1024 - ring_bytes(shape.k, 0, 0)) / stageBytes);
        const int bulkSmem = ring_bytes(shape.k, stages, CONSUMERS / team);
        CHECK(cudaFuncSetAttribute(stages_bulk, cudaFuncAttributeMaxDynamicSharedMemorySize, bulkSmem));
        CHECK(cudaFuncSetAttribute(stages_claimed, cudaFuncAttributeMaxDynamicSharedMemorySize, bulkSmem));
        CHECK(cudaFuncSetAttribute(stages_tail, cudaFuncAttributeMaxDynamicSharedMemorySize, bulkSmem));
        const int cpt = (shape.k / 8 + G - 1) / G, ring4 = 4 * cpt * THREADS * 16, ring8 = 8 * cpt * THREADS * 16;
        CHECK(cudaFuncSetAttribute(groups_ring<4>, cudaFuncAttributeMaxDynamicSharedMemorySize, ring4));
        CHECK(cudaFuncSetAttribute(groups_ring<8>, cudaFuncAttributeMaxDynamicSharedMemorySize, std::min(ring8, 227 * 1024)));
        printf("\n%s (n %d, k %d, %.1f MB a layer): wide grid %d x %d threads (one layer), ldg/ring groups of %d, bulk teams of %d warps, %d stages of %d KB\n",
            shape.name, shape.n, shape.k, layerElems * 2 / 1e6, wideLayer, wideThreads, G, team, stages, stageBytes / 1024);
        auto run = [&](int variant, const bf16* wv, int n, float* yv)
        {
            switch (variant)
            {
            case 0: gemv_wide<<<n == shape.n ? wideLayer : wideAll, wideThreads, 0, s>>>(x, wv, n, shape.k, (bf16*)yv, 0); break;
            case 1:
                if (cpt == 3) groups_ldg<2, 3><<<sms, THREADS, 0, s>>>(x, wv, n, shape.k, G, yv);
                else groups_ldg<2, 5><<<sms, THREADS, 0, s>>>(x, wv, n, shape.k, G, yv);
                break;
            case 2:
                if (cpt == 3) groups_ldg<4, 3><<<sms, THREADS, 0, s>>>(x, wv, n, shape.k, G, yv);
                else groups_ldg<4, 5><<<sms, THREADS, 0, s>>>(x, wv, n, shape.k, G, yv);
                break;
            case 3: groups_ring<4><<<sms, THREADS, ring4, s>>>(x, wv, n, shape.k, G, yv); break;
            case 4:
                if (ring8 <= 227 * 1024) groups_ring<8><<<sms, THREADS, ring8, s>>>(x, wv, n, shape.k, G, yv);
                break;
            default: stages_bulk<<<sms, THREADS, bulkSmem, s>>>(x, wv, n, shape.k, team, stages, yv); break;
            }
        };
        const char* names[] = {"wide", "ldg 2", "ldg 4", "ring 4", "ring 8", "bulk"};
        for (int variant = 0; variant < 6; variant++)
        {
            if (variant == 4 && ring8 > 227 * 1024) continue;
            // correctness: the 28 layers' rows once, from zero, against wide
            float worst = 0.f;
            if (variant > 0)
            {
                CHECK(cudaMemsetAsync(y, 0, (long long)shape.n * layers * 4, s));
                run(variant, w, shape.n * layers, y);
                CHECK(cudaStreamSynchronize(s));
                worst = relative_error(y, hostWide);
            }
            const float best = best_ms(s, a, b, 5, [&] { run(variant, w, shape.n * layers, variant == 0 ? (float*)yWide : y); });
            const float layerMs = best_ms(s, a, b, 3, [&]
            {
                for (int l = 0; l < layers; l++)
                    run(variant, w + l * layerElems, shape.n, variant == 0 ? (float*)(yWide + (long long)l * shape.n) : y + (long long)l * shape.n);
            }) / layers;
            printf("  %-7s all %.3f ms = %.2f TB/s | layer %.2f us = %.2f TB/s | vs wide: max error %.1e of the largest output%s\n", names[variant], best,
                total * 2 / (best * 1e-3) / 1e12, layerMs * 1e3, layerElems * 2 / (layerMs * 1e-3) / 1e12, worst,
                variant > 0 && worst > 1e-2 ? "  WRONG" : "");
        }
        // Layer boundaries: inside one launch (a grid barrier between layers, with and without the next layer's first
        // rows requested before it) against kernel boundaries with programmatic dependent launch (gemv_wide requests
        // its first rows before it waits), 28 layers each.
        unsigned* arrivals;
        CHECK(cudaMalloc(&arrivals, 8 * layers)); // stages_claimed's claims[layers] and done[layers] too
        unsigned long long* stamps;
        CHECK(cudaMalloc(&stamps, 16LL * layers * sms));
        const int teamRows = CONSUMERS / team; // rows a stage
        auto phases = [&](bool prefetch)
        {
            if (cpt == 3)
            {
                if (prefetch) phases_ldg<true, 3><<<sms, THREADS, 0, s>>>(x, w, shape.n, shape.k, G, layers, y, arrivals);
                else phases_ldg<false, 3><<<sms, THREADS, 0, s>>>(x, w, shape.n, shape.k, G, layers, y, arrivals);
            }
            else if (prefetch) phases_ldg<true, 5><<<sms, THREADS, 0, s>>>(x, w, shape.n, shape.k, G, layers, y, arrivals);
            else phases_ldg<false, 5><<<sms, THREADS, 0, s>>>(x, w, shape.n, shape.k, G, layers, y, arrivals);
        };
        // 0, 1: phases_ldg without / with the next rows early; 2: stages_bulk's stages running on across the barriers
        auto phasesAny = [&](int form)
        {
            if (form < 2) phases(form == 1);
            else if (form == 2) stages_bulk<<<sms, THREADS, bulkSmem, s>>>(x, w, shape.n, shape.k, team, stages, y, layers, arrivals, stamps);
            else if (form == 3) stages_claimed<<<sms, THREADS, bulkSmem, s>>>(x, w, shape.n, shape.k, team, stages, y, layers, arrivals, arrivals + layers);
            else
            {
                const int tail = (shape.n / (form == 4 ? 8 : 4)) / teamRows * teamRows;
                stages_tail<<<sms, THREADS, bulkSmem, s>>>(x, w, shape.n, shape.k, team, stages, y, layers, tail, arrivals, arrivals + layers, stamps);
            }
        };
        const char* formNames[] = {"phases, rows after barrier", "phases, next rows early", "phases, bulk stages ahead", "claimed stages, done counts",
            "bulk, last 1/8 claimed", "bulk, last 1/4 claimed"};
        for (int prefetch = 0; prefetch < 6; prefetch++)
        {
            CHECK(cudaMemsetAsync(y, 0, (long long)shape.n * layers * 4, s));
            CHECK(cudaMemsetAsync(arrivals, 0, 8 * layers, s));
            phasesAny(prefetch);
            CHECK(cudaStreamSynchronize(s));
            const float worst = relative_error(y, hostWide);
            const float best = best_ms(s, a, b, 5, [&] { phasesAny(prefetch); }, [&] { CHECK(cudaMemsetAsync(arrivals, 0, 8 * layers, s)); });
            printf("  %-27s one launch of 28 layers %.3f ms = %.2f us a layer = %.2f TB/s | vs wide: max error %.1e%s\n", formNames[prefetch], best,
                best * 1e3 / layers, total * 2 / (best * 1e-3) / 1e12, worst, worst > 1e-2 ? "  WRONG" : "");
            if (prefetch == 2 || prefetch >= 4) // the last run's hand-overs: when blocks finished layer 14's rows and passed its barrier
            {
                const Handover h = handover(stamps, sms, layers, 14);
                printf("    layer 14, ns after its first block was done: blocks done median %lld, last %lld | past the barrier first %lld, last %lld\n",
                    h.done[sms / 2], h.done[sms - 1], h.passed[0], h.passed[sms - 1]);
            }
        }
        // How much the stages hold in flight: the bulk stages ahead form with fewer or smaller stages (rows a stage at most
        // the consumer teams), us a layer and layer 14's hand-over.
        {
            const int maxRows = CONSUMERS / team;
            const int settings[][2] = {{4, maxRows}, {2, maxRows}, {8, (maxRows + 1) / 2}, {4, (maxRows + 1) / 2}, {2, (maxRows + 1) / 2}, {4, 1}, {8, 1}};
            for (const auto& setting : settings)
            {
                const int nStages = setting[0], rows = setting[1], smemBytes = ring_bytes(shape.k, nStages, rows);
                if (smemBytes > 227 * 1024) continue;
                CHECK(cudaFuncSetAttribute(stages_bulk, cudaFuncAttributeMaxDynamicSharedMemorySize, smemBytes));
                const float best = best_ms(s, a, b, 5, [&] { stages_bulk<<<sms, THREADS, smemBytes, s>>>(x, w, shape.n, shape.k, team, nStages, y, layers, arrivals, stamps, rows); },
                    [&] { CHECK(cudaMemsetAsync(arrivals, 0, 8 * layers, s)); });
                const Handover h = handover(stamps, sms, layers, 14);
                printf("  stages %d x %2d rows (%3d KB an SM) %.2f us a layer | layer 14: done median %lld, last %lld, past the barrier %lld-%lld ns\n", nStages,
                    rows, nStages * rows * rowBytes / 1024, best * 1e3 / layers, h.done[sms / 2], h.done[sms - 1], h.passed[0], h.passed[sms - 1]);
            }
            CHECK(cudaFuncSetAttribute(stages_bulk, cudaFuncAttributeMaxDynamicSharedMemorySize, bulkSmem));
        }
        {
            const float best = best_ms(s, a, b, 5, [&]
            {
                for (int l = 0; l < layers; l++)
                    launch_pdl(s, gemv_wide, wideLayer, wideThreads, 0, (const bf16*)x, (const bf16*)(w + l * layerElems), shape.n, shape.k,
                        (void*)(yWide + (long long)l * shape.n), 0);
            });
            printf("  %-26s 28 launches %.3f ms = %.2f us a layer = %.2f TB/s\n", "wide, PDL", best, best * 1e3 / layers, total * 2 / (best * 1e-3) / 1e12);
        }
        CHECK(cudaFree(arrivals));
        CHECK(cudaFree(stamps));
        CHECK(cudaFree(w));
        CHECK(cudaFree(x));
        CHECK(cudaFree(yWide));
        CHECK(cudaFree(y));
    }
    return 0;
}
#endif
