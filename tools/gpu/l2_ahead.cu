// Can the memory that sits idle while a one-token step's attention runs fetch the gate_up projection's weights into L2
// ahead of it, so that gate_up then streams fewer bytes from DRAM? (issue 8, docs/benchmarks/cuda-h200.md, run 23.)
// A 1.5B layer takes ~36 us on the H200 where its weights take ~22 at the copy bandwidth; ~7 us of it is the window from
// the qkv projection's end to the o projection's, in which only attention's two blocks run (runs 20-22). Run 20's "L2
// ahead" asked L2 for gate_up's rows from the o projection's blocks and found gate_up no faster; this asks the question
// without the rest of the step in the way.
// The chain: 28 layers of the 1.5B's qkv (gemv_wide), a stand-in for attention, o (gemv_wide), gate_up
// (gemv_wide_gate_up) and down (gemv_wide): gemv.cu's own kernels with programmatic dependent launch, replayed from a
// CUDA graph. The stand-in (gap) is two blocks that wait for qkv, let o launch ~0.75 us later (as decode attention does
// once q is loaded) and spin until 5 us after their wait, touching no memory; with helpers, more blocks of the same grid
// fetch each gate_up block's rows after its first pair (which gemv_wide_gate_up itself requests before its wait):
//   none          no helpers (the gap alone); also the chain without a stand-in, and with one that waits and returns
//   bulk P        cp.async.bulk.prefetch.L2, a row a thread, P row pairs a gate_up block (run 20's request)
//   loads P       16-byte ld.global.cg of the same rows, a helper block a gate_up block (real loads, data dropped)
//   loads-last P  the same with the L2::evict_last hint
// Then a 22 MB gate_up alone, 28 launches: on another layer's weights each time (cold), on the same layer's (warm in
// L2), and after a 10 us stand-in whose helpers fetched all its rows but each block's first pair, both ways.
// The helpers change no result: every mode must leave the same final vector.
// Build and run on the GPU machine:
//   nvcc -O3 -std=c++17 -arch=sm_90 -o /tmp/l2_ahead tools/gpu/l2_ahead.cu && /tmp/l2_ahead
// (tools/gpu/all.sh run l2-ahead does that and keeps the log).
#include "bench.cuh"
#include <cmath>
#include <functional>

#include "../../ReasoningServe.Inference/Backends/Cuda/Kernels/gemv.cu"

enum Fetch { FetchNone, FetchBulk, FetchLoads, FetchLoadsLast };
static const char* FetchNames[] = {"none", "bulk", "loads", "loads-last"};

__device__ __forceinline__ unsigned fetch16(const uint4* p, int fetch)
{
    uint4 v;
    if (fetch == FetchLoadsLast)
    {
        unsigned long long policy;
        asm("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(policy));
        asm volatile("ld.global.L1::no_allocate.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
            : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p), "l"(policy));
    }
    else v = __ldcg(p);
    return v.x ^ v.y ^ v.z ^ v.w;
}

// Rows [from, to) of a fused [gate | up] weight, both halves, by this block: bulk prefetches a row a thread, loads 16
// bytes a thread at a time (8 in flight).
__device__ __forceinline__ unsigned fetch_pairs(const bf16* w, int k, int intermediate, int from, int to, int fetch)
{
    const int rowChunks = k / 8, rows = to - from;
    unsigned acc = 0;
    for (int half = 0; half < 2; half++)
    {
        const uint4* base = (const uint4*)(w + ((long long)half * intermediate + from) * k);
        if (fetch == FetchBulk)
        {
            for (int r = threadIdx.x; r < rows; r += blockDim.x)
                asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(base + (long long)r * rowChunks), "r"(k * 2) : "memory");
            continue;
        }
        const int chunks = rows * rowChunks;
#pragma unroll 8
        for (int c = threadIdx.x; c < chunks; c += blockDim.x) acc ^= fetch16(base + c, fetch);
    }
    return acc;
}

// Blocks 0-1: attention's stand-in. Blocks 2..: helpers, each taking gate_up blocks j, j + helpers, ... and fetching
// pairs 1 .. pairsAhead of each (the pairs gemv_wide_gate_up's grid of gateUpBlocks gives it, as GateUpSiluRows::first).
__global__ void __launch_bounds__(512) gap(unsigned spinNs, unsigned triggerNs, const bf16* __restrict__ gateUp, int k, int intermediate,
    int gateUpBlocks, int pairsAhead, int fetch, unsigned* __restrict__ sink)
{
    if (blockIdx.x < 2)
    {
        wait_for_previous_grid();
        const unsigned long long start = global_ns();
        while (global_ns() - start < triggerNs) { }
        launch_next_grid_always();
        while (global_ns() - start < spinNs) { }
        return;
    }
    launch_next_grid_always(); // the helpers do not hold o's launch
    wait_for_previous_grid();
    const int helpers = gridDim.x - 2;
    unsigned acc = 0;
    for (int b = blockIdx.x - 2; b < gateUpBlocks; b += helpers)
    {
        const int m0 = wide_first_row(intermediate, b, gateUpBlocks), m1 = wide_first_row(intermediate, b + 1, gateUpBlocks);
        const int from = m0 + 1, to = min(m1, from + pairsAhead);
        if (to > from) acc ^= fetch_pairs(gateUp, k, intermediate, from, to, fetch);
    }
    if (acc == 0x9E3779B9u) sink[threadIdx.x] = acc; // keeps the loads; practically never true
}

constexpr int Layers = 28, Hidden = 1536, QkvRows = 2048, Intermediate = 8960;

struct Layer { bf16 *qkv, *o, *gateUp, *down; };

struct Setup
{
    std::vector<Layer> layers;
    bf16 *x0, *q, *attn, *act, *h;
    unsigned* sink;
    unsigned qkvGrid, oGrid, gateUpGrid, downGrid, threadsHidden, threadsDown;
};

struct Mode { const char* name; bool gap; Fetch fetch; int pairs; int helpers; unsigned spinNs = 5000; };

static int multiprocessors;

static bf16* weights(int n, int k, unsigned seed)
{
    bf16* w;
    CHECK(cudaMalloc(&w, (size_t)n * k * sizeof(bf16)));
    fill<<<1024, 256>>>(w, (long long)n * k, seed, sqrtf(3.f / k));
    return w;
}

static unsigned threads_for(int k) { return 32 * ((k / 8 + CPT * 32 - 1) / (CPT * 32)); }

// Gemm.cs's balanced wide grid for `groups` rows (or row pairs): as many blocks as fit, at least groups / perBlock, and
// where that is one wave the most blocks down to 3/4 of it that share the groups exactly.
static unsigned wide_grid(const void* kernel, int groups, int perBlock, unsigned threads)
{
    int perSm = 0;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, kernel, threads, 0));
    const int resident = std::max(1, perSm) * multiprocessors;
    const int blocks = std::min(groups, std::max(resident, (groups + perBlock - 1) / perBlock));
    if (blocks == resident)
        for (int b = blocks; b >= std::max(1, blocks * 3 / 4); b--)
            if (groups % b == 0) return (unsigned)b;
    return (unsigned)blocks;
}

static void record(cudaStream_t s, const Setup& c, const Mode& m)
{
    for (int l = 0; l < Layers; l++)
    {
        const Layer& w = c.layers[l];
        launch_pdl(s, gemv_wide, c.qkvGrid, c.threadsHidden, 0, (const bf16*)(l == 0 ? c.x0 : c.h), (const bf16*)w.qkv, QkvRows, Hidden, (void*)c.q, 0);
        if (m.gap)
            launch_pdl(s, gap, 2u + (m.fetch == FetchNone ? 0u : (unsigned)m.helpers), 128u, 0, m.spinNs, std::min(750u, m.spinNs), (const bf16*)w.gateUp, Hidden, Intermediate,
                (int)c.gateUpGrid, m.pairs, (int)m.fetch, c.sink);
        launch_pdl(s, gemv_wide, c.oGrid, c.threadsHidden, 0, (const bf16*)c.q, (const bf16*)w.o, Hidden, Hidden, (void*)c.attn, 0);
        launch_pdl(s, gemv_wide_gate_up, c.gateUpGrid, c.threadsHidden, 0, (const bf16*)c.attn, (const bf16*)w.gateUp, Intermediate, Hidden, c.act);
        launch_pdl(s, gemv_wide, c.downGrid, c.threadsDown, 0, (const bf16*)c.act, (const bf16*)w.down, Hidden, Intermediate, (void*)c.h, 0);
    }
}

// Median us a replay (bench.cuh), and `count` values at result after it.
template <class Record>
static double time_and_read(cudaStream_t s, Record record, const bf16* result, int count, std::vector<unsigned short>& out)
{
    const double t = time_graph(s, record, 10, 9);
    out.resize(count);
    CHECK(cudaMemcpy(out.data(), result, count * sizeof(bf16), cudaMemcpyDeviceToHost));
    return t;
}

// Whether gemv_wide_gate_up reads faster what L2 already holds, without the chain around it: a gate_up of 3584
// intermediate rows (22 MB, well inside L2) 28 times, each time another layer's (cold) or the same one's (after the
// first, as warm as L2 keeps it); then each layer's after a 10 us stand-in whose helpers bulk-prefetched all its rows
// but each block's first pair, against the stand-in alone.
static int isolated(cudaStream_t s, const Setup& c)
{
    const int intermediate = 3584;
    std::vector<bf16*> w;
    for (int l = 0; l < Layers; l++) w.push_back(weights(2 * intermediate, Hidden, 1000u + l));
    const unsigned grid = wide_grid((const void*)gemv_wide_gate_up, intermediate, WIDE_MAX_ROWS / 2, c.threadsHidden);
    const double mb = 2.0 * intermediate * Hidden * 2 / 1e6;
    printf("gate_up alone: %d intermediate rows (%.1f MB), %u blocks\n", intermediate, mb, grid);
    auto gate_up = [&](const bf16* weight) { launch_pdl(s, gemv_wide_gate_up, grid, c.threadsHidden, 0, (const bf16*)c.attn, weight, intermediate, Hidden, c.act); };
    auto stand_in = [&](const bf16* weight, Fetch fetch)
    {
        // a helper a gate_up block for the loads, so that each helper waits on few round trips
        launch_pdl(s, gap, fetch == FetchNone ? 2u : fetch == FetchBulk ? 130u : 2u + grid, 128u, 0, 10000u, 750u, weight, Hidden, intermediate, (int)grid, 64,
            (int)fetch, c.sink);
    };
    struct Case { const char* name; std::function<void()> record; };
    const std::vector<Case> cases = {
        {"another layer's", [&] { for (int l = 0; l < Layers; l++) gate_up(w[l]); }},
        {"the same layer's", [&] { for (int l = 0; l < Layers; l++) gate_up(w[0]); }},
        {"after 10 us, nothing ahead", [&] { for (int l = 0; l < Layers; l++) { stand_in(w[l], FetchNone); gate_up(w[l]); } }},
        {"after 10 us, bulk-prefetched", [&] { for (int l = 0; l < Layers; l++) { stand_in(w[l], FetchBulk); gate_up(w[l]); } }},
        {"after 10 us, loaded", [&] { for (int l = 0; l < Layers; l++) { stand_in(w[l], FetchLoads); gate_up(w[l]); } }},
    };
    std::vector<unsigned short> reference, out;
    int failures = 0;
    for (int alternation = 0; alternation < 2; alternation++)
        for (size_t i = 0; i < cases.size(); i++)
        {
            const double t = time_and_read(s, cases[i].record, c.act, intermediate, out);
            if (i == 0) reference = out;
            const bool differs = i != 1 && out != reference; // all but "the same layer's" end on the last layer's weights
            failures += differs;
            printf("  %-30s %8.1f us  %6.2f us a launch (%.2f TB/s)%s\n", cases[i].name, t, t / Layers, mb / (t / Layers),
                differs ? "  OUTPUT DIFFERS" : "");
        }
    for (bf16* p : w) CHECK(cudaFree(p));
    return failures;
}

int main()
{
    cudaStream_t s = start_on_device(multiprocessors);

    Setup c{};
    unsigned seed = 1;
    for (int l = 0; l < Layers; l++)
        c.layers.push_back({weights(QkvRows, Hidden, seed++), weights(Hidden, Hidden, seed++), weights(2 * Intermediate, Hidden, seed++),
            weights(Hidden, Intermediate, seed++)});
    CHECK(cudaMalloc(&c.x0, Hidden * sizeof(bf16)));
    CHECK(cudaMalloc(&c.q, QkvRows * sizeof(bf16)));
    CHECK(cudaMalloc(&c.attn, Hidden * sizeof(bf16)));
    CHECK(cudaMalloc(&c.act, Intermediate * sizeof(bf16)));
    CHECK(cudaMalloc(&c.h, Hidden * sizeof(bf16)));
    CHECK(cudaMalloc(&c.sink, 512 * sizeof(unsigned)));
    fill<<<8, 256>>>(c.x0, Hidden, 12345u, 1.f);
    c.threadsHidden = threads_for(Hidden);
    c.threadsDown = threads_for(Intermediate);
    c.qkvGrid = wide_grid((const void*)gemv_wide, QkvRows, WIDE_MAX_ROWS, c.threadsHidden);
    c.oGrid = wide_grid((const void*)gemv_wide, Hidden, WIDE_MAX_ROWS, c.threadsHidden);
    c.gateUpGrid = wide_grid((const void*)gemv_wide_gate_up, Intermediate, WIDE_MAX_ROWS / 2, c.threadsHidden);
    c.downGrid = wide_grid((const void*)gemv_wide, Hidden, WIDE_MAX_ROWS, c.threadsDown);
    CHECK(cudaDeviceSynchronize());
    const double layerMb = ((double)QkvRows * Hidden + (double)Hidden * Hidden + 2.0 * Intermediate * Hidden + (double)Hidden * Intermediate) * 2 / 1e6;
    printf("28 layers, %.1f MB a layer; grids qkv %u, o %u, gate_up %u (%d pairs, %.2f a block), down %u\n", layerMb, c.qkvGrid, c.oGrid,
        c.gateUpGrid, Intermediate, (double)Intermediate / c.gateUpGrid, c.downGrid);

    std::vector<Mode> modes = {{"no gap", false, FetchNone, 0, 0}, {"empty stand-in", true, FetchNone, 0, 0, 0}, {"gap", true, FetchNone, 0, 0}};
    for (int pairs : {2, 4, 6}) modes.push_back({"", true, FetchBulk, pairs, 128});
    modes.push_back({"", true, FetchLoads, 2, 896});
    modes.push_back({"", true, FetchLoadsLast, 2, 896});
    modes.push_back({"", true, FetchLoads, 4, 896});
    std::vector<unsigned short> reference, out;
    int failures = 0;
    printf("the stand-in spins 5 us after its wait (the empty one returns at once); gate_up's rows into L2 meanwhile:\n");
    for (int alternation = 0; alternation < 2; alternation++)
        for (const Mode& m : modes)
        {
            const double t = time_and_read(s, [&] { record(s, c, m); }, c.h, Hidden, out);
            if (reference.empty()) reference = out;
            const bool same = out == reference;
            failures += !same;
            const double mb = m.fetch == FetchNone ? 0.0 : 2.0 * m.pairs * c.gateUpGrid * Hidden * 2 / 1e6;
            char name[64];
            if (m.fetch == FetchNone) snprintf(name, sizeof name, "%s", m.name);
            else snprintf(name, sizeof name, "%s %d (%d helpers)", FetchNames[m.fetch], m.pairs, m.helpers);
            printf("  %-26s %5.1f MB ahead  %8.1f us  %6.2f us a layer%s\n", name, mb, t, t / Layers, same ? "" : "  FINAL VECTOR DIFFERS");
        }
    failures += isolated(s, c);
    printf("%s\n", failures == 0 ? "every mode gave the same final vector" : "SOME MODES DIFFER");
    return failures == 0 ? 0 : 1;
}
