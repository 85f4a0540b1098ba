// How much a one-token step loses at each kernel boundary, and whether a flag in global memory hands over faster than
// programmatic dependent launch's griddepcontrol.wait (issue 8, docs/benchmarks/cuda-h200.md, run 10).
// A chain of one-token GEMVs in gemv.cu's wide layout (a block's threads split k, two rows at a time, the first two
// rows requested before the hand-over; chain_gemv is gemv.cu's pieces with other waits), each reading the vector the
// kernel before it wrote, replayed from a CUDA graph:
//   plain  no PDL: a kernel starts once the one ahead has completed
//   wait   PDL: every kernel triggers its successor at its start and calls griddepcontrol.wait (the backend's way)
//   flag   PDL launch as above, but no griddepcontrol.wait: each block's thread 0 spins on the predecessor's counter
//          (ld.acquire.gpu) until all its blocks have counted themselves done (after their stores, a fence, an atomic add)
//   wait, backend's grid   wait on the grid that the backend gives its wide kernels (below; this kernel's own grid gives
//               every block an even number of rows)
//   wait, x by __ldg / ld.ca  as "wait, backend's grid", reading x through the read-only path (ld.global.nc) or with
//               cached loads (ld.global.ca) instead of through L2 only (ld.global.cg)
//   backend: qkv, o, gate_up / backend: down   the backend's kernels for those projections only, chain_gemv for the rest
//   backend     the backend's own kernels (gemv.cu, included below) in the same chain with PDL: gemv_wide, and
//               gemv_wide_silu for down (x = silu(gate) * up): the SiLU in down, as RS_CUDA_GEMV_FUSE=silu,qkv has it
//   backend-mix the same with gate_up (16384 rows or more) by the row-per-warp gemv, the defaults before run 10
//   backend, SiLU in gate_up   the defaults since run 10: gemv_wide_gate_up writes silu(gate) * up, down is gemv_wide
// Chains: the Qwen2.5 layers' four projections (qkv, o, gate_up, down) for 1.5B and 7B, 28 layers; and 224 one-block
// kernels (k = 1536, two rows) for the boundary alone. Every mode must leave the same final vector (bit for bit), which
// checks the flags' ordering (the backend's kernels round differently and are only timed). Build and run on the GPU machine:
//   nvcc -O3 -std=c++17 -arch=sm_90 -o /tmp/kernel_boundary tools/gpu/kernel_boundary.cu && /tmp/kernel_boundary
// (tools/gpu/all.sh run boundary does that and keeps the log).
#include "bench.cuh"
#include <cmath>
#include <cstring>

#include "../../ReasoningServe.Inference/Backends/Cuda/Kernels/gemv.cu"

enum Mode { Plain, Wait, Flag, WaitWideGrid, WaitLdgX, WaitLdcaX, BackendPlainOnly, BackendSiluOnly, Backend, BackendMix, BackendGateUp, Modes };
static const char* ModeNames[] = {"plain", "wait", "flag", "wait, backend's grid", "wait, x by __ldg", "wait, x by ld.ca",
    "backend: qkv, o, gate_up", "backend: down", "backend", "backend-mix", "backend, SiLU in gate_up"};
constexpr bool Compared(int mode) { return mode != Plain && mode <= WaitLdcaX; } // same arithmetic as plain
constexpr int MAX_ROWS = WIDE_MAX_ROWS; // CPT and WIDE_ROWS as gemv.cu's

__device__ __forceinline__ unsigned load_acquire(const unsigned* p)
{
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

template <int MODE, int X_LOAD = 0> // 0: __ldcg, 1: __ldg, 2: load_after_wait (ld.global.ca)
__global__ void __launch_bounds__(512) chain_gemv(const bf16* __restrict__ x, const bf16* __restrict__ w, int n, int k, bf16* __restrict__ y,
    unsigned* __restrict__ done, const unsigned* __restrict__ previousDone, unsigned previousBlocks)
{
    if (MODE != Plain) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
    const PlainRows out{y, 0};
    const int row0 = out.first(n, blockIdx.x), rows = out.first(n, blockIdx.x + 1) - row0, chunks = k / 8;
    uint4 wv[WIDE_ROWS][CPT];
    load_wide_rows(wv, w, out, row0, row0 + rows - 1, k);
    if (MODE == Wait) asm volatile("griddepcontrol.wait;" ::: "memory");
    if (MODE == Flag)
    {
        if (previousDone != nullptr && threadIdx.x == 0)
            while (load_acquire(previousDone) < previousBlocks) { }
        __syncthreads();
    }
    uint4 xv[CPT];
#pragma unroll
    for (int i = 0; i < CPT; i++)
    {
        int c = threadIdx.x + i * blockDim.x;
        // through L2 by default: in flag mode this kernel may have started before x was written, so L1 may hold an
        // older copy
        const uint4* p = (const uint4*)x + c;
        xv[i] = c >= chunks ? make_uint4(0, 0, 0, 0) : X_LOAD == 1 ? __ldg(p) : X_LOAD == 2 ? load_after_wait(p) : __ldcg(p);
    }
    multiply_wide_rows(wv, xv, w, k, out, row0, rows);
    if (MODE == Flag)
    {
        __syncthreads();
        if (threadIdx.x == 0)
        {
            __threadfence();
            atomicAdd(done, 1u);
        }
    }
}

// grid/threads: chain_gemv's launch; wideGrid: gemv.cu's wide kernels' (Gemm.WideGrid's rule, their own occupancy);
// gateUpGrid: gemv_wide_gate_up's (rows in pairs). silu: a down projection; gateUp: a gate_up one.
struct Gemv { int n, k; bf16* w; unsigned grid, threads, wideGrid, gateUpGrid; bool silu, gateUp; };

static void launch(cudaStream_t s, Mode mode, const Gemv& g, const bf16* x, bf16* y, unsigned* done, const unsigned* previousDone,
    unsigned previousBlocks)
{
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(g.grid);
    config.blockDim = dim3(g.threads);
    config.stream = s;
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[0].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attribute;
    config.numAttrs = mode == Plain ? 0 : 1;
    const bf16* w = g.w;
    if (mode == Plain) CHECK(cudaLaunchKernelEx(&config, chain_gemv<Plain>, x, w, g.n, g.k, y, done, previousDone, previousBlocks));
    else if (mode == Wait) CHECK(cudaLaunchKernelEx(&config, chain_gemv<Wait>, x, w, g.n, g.k, y, done, previousDone, previousBlocks));
    else if (mode == Flag) CHECK(cudaLaunchKernelEx(&config, chain_gemv<Flag>, x, w, g.n, g.k, y, done, previousDone, previousBlocks));
    else if (mode == WaitWideGrid || (mode == BackendPlainOnly && g.silu) || (mode == BackendSiluOnly && !g.silu))
    {
        config.gridDim = dim3(g.wideGrid);
        CHECK(cudaLaunchKernelEx(&config, chain_gemv<Wait>, x, w, g.n, g.k, y, done, previousDone, previousBlocks));
    }
    else if (mode == WaitLdgX || mode == WaitLdcaX)
    {
        config.gridDim = dim3(g.wideGrid);
        CHECK(cudaLaunchKernelEx(&config, mode == WaitLdgX ? chain_gemv<Wait, 1> : chain_gemv<Wait, 2>, x, w, g.n, g.k, y, done, previousDone,
            previousBlocks));
    }
    else if (mode == BackendGateUp && (g.gateUp || g.silu))
    {
        if (g.gateUp)
        {
            config.gridDim = dim3(g.gateUpGrid);
            CHECK(cudaLaunchKernelEx(&config, gemv_wide_gate_up, x, w, g.n / 2, g.k, y));
        }
        else
        {
            config.gridDim = dim3(g.wideGrid);
            CHECK(cudaLaunchKernelEx(&config, gemv_wide, x, w, g.n, g.k, (void*)y, 0));
        }
    }
    else if (mode == BackendMix && g.n >= 16384 && g.k < 8192) // Gemm.cs: many rows that are not long keep the row-per-warp gemv
    {
        config.gridDim = dim3((g.n + 7) / 8); // 8 warps, ROWS 1
        config.blockDim = dim3(256);
        CHECK(cudaLaunchKernelEx(&config, gemv, x, 1, w, g.n, g.k, (void*)y, g.n, 0));
    }
    else
    {
        config.gridDim = dim3(g.wideGrid);
        if (g.silu) CHECK(cudaLaunchKernelEx(&config, gemv_wide_silu, x, w, g.n, g.k, (void*)y, 0));
        else CHECK(cudaLaunchKernelEx(&config, gemv_wide, x, w, g.n, g.k, (void*)y, 0));
    }
}

// One chain of GEMVs: kernel i reads x0 (i = 0) or the vector kernel i - 1 wrote, and writes its own.
struct Chain
{
    const char* name;
    std::vector<Gemv> gemvs;
    double bytes = 0;
    bf16 *x0 = nullptr, *vectors[2] = {nullptr, nullptr};
    unsigned* done = nullptr;
};

static int multiprocessors;

static Gemv make_gemv(int n, int k, unsigned seed, bool oneBlock, bool silu = false, bool gateUp = false)
{
    Gemv g{n, k, nullptr, 0, 0, 0, 0, silu, gateUp};
    CHECK(cudaMalloc(&g.w, (size_t)n * k * sizeof(bf16)));
    fill<<<1024, 256>>>(g.w, (long long)n * k, seed, sqrtf(3.f / k));
    int chunks = k / 8;
    g.threads = 32 * ((chunks + CPT * 32 - 1) / (CPT * 32));
    int perSm = 0;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, chain_gemv<Wait>, g.threads, 0));
    unsigned grid = (unsigned)(perSm * multiprocessors);
    grid = std::max(grid, (unsigned)((n + MAX_ROWS - 1) / MAX_ROWS));
    grid = std::min(grid, (unsigned)(n / WIDE_ROWS));
    g.grid = oneBlock ? 1 : grid;
    int widePerSm = 0;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&widePerSm, silu ? gemv_wide_silu : gemv_wide, g.threads, 0));
    g.wideGrid = oneBlock ? 1 : (unsigned)std::min(n, std::max(widePerSm * multiprocessors, (n + MAX_ROWS - 1) / MAX_ROWS));
    int pairsPerSm = 0, pairs = n / 2;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&pairsPerSm, gemv_wide_gate_up, g.threads, 0));
    g.gateUpGrid = oneBlock ? 1 : (unsigned)std::min(pairs, std::max(pairsPerSm * multiprocessors, (pairs + MAX_ROWS / 2 - 1) / (MAX_ROWS / 2)));
    return g;
}

static Chain make_layers(const char* name, int layers, int hidden, int qkvRows, int intermediate)
{
    Chain c{name, {}, 0, nullptr, {nullptr, nullptr}, nullptr};
    unsigned seed = 1;
    for (int l = 0; l < layers; l++)
    {
        c.gemvs.push_back(make_gemv(qkvRows, hidden, seed++, false));
        c.gemvs.push_back(make_gemv(hidden, hidden, seed++, false));
        c.gemvs.push_back(make_gemv(2 * intermediate, hidden, seed++, false, false, true));
        c.gemvs.push_back(make_gemv(hidden, intermediate, seed++, false, true));
    }
    return c;
}

static void allocate(Chain& c)
{
    int longest = 0;
    for (auto& g : c.gemvs)
    {
        longest = std::max({longest, g.n, g.k});
        c.bytes += (double)g.n * g.k * sizeof(bf16);
    }
    CHECK(cudaMalloc(&c.x0, longest * sizeof(bf16)));
    fill<<<64, 256>>>(c.x0, longest, 12345u, 1.f);
    for (auto& v : c.vectors)
    {
        CHECK(cudaMalloc(&v, longest * sizeof(bf16)));
        fill<<<64, 256>>>(v, longest, 777u, 1.f); // a vector's tail past a shorter output stays as it was
    }
    CHECK(cudaMalloc(&c.done, c.gemvs.size() * sizeof(unsigned)));
}

static void record(cudaStream_t s, Mode mode, Chain& c)
{
    // the counters start at 0 in every replay; the other modes have the same node, so they pay for it too
    CHECK(cudaMemsetAsync(c.done, 0, c.gemvs.size() * sizeof(unsigned), s));
    for (size_t i = 0; i < c.gemvs.size(); i++)
    {
        const bf16* x = i == 0 ? c.x0 : c.vectors[(i - 1) % 2];
        launch(s, mode, c.gemvs[i], x, c.vectors[i % 2], c.done + i, i == 0 ? nullptr : c.done + i - 1, i == 0 ? 0 : c.gemvs[i - 1].grid);
    }
}

static void reset_vectors(Chain& c)
{
    int longest = 0;
    for (auto& g : c.gemvs) longest = std::max({longest, g.n, g.k});
    for (auto& v : c.vectors) fill<<<64, 256>>>(v, longest, 777u, 1.f);
}

// Median replay time in microseconds over `reps` timed replays of `rounds` graph launches each; out: the final vector.
static double time_chain(cudaStream_t s, Mode mode, Chain& c, std::vector<unsigned short>& out, int rounds, int reps)
{
    reset_vectors(c);
    CHECK(cudaDeviceSynchronize());
    const double t = time_graph(s, [&] { record(s, mode, c); }, rounds, reps);
    const Gemv& last = c.gemvs.back();
    out.resize(last.n);
    CHECK(cudaMemcpy(out.data(), c.vectors[(c.gemvs.size() - 1) % 2], last.n * sizeof(bf16), cudaMemcpyDeviceToHost));
    return t;
}

static int run(cudaStream_t s, Chain& c, int rounds, int reps, int alternations)
{
    allocate(c);
    CHECK(cudaDeviceSynchronize());
    std::vector<unsigned short> reference, out;
    int failures = 0;
    printf("%s: %zu kernels, %.3f GB of weights\n", c.name, c.gemvs.size(), c.bytes / 1e9);
    for (int a = 0; a < alternations; a++)
    {
        for (int m = 0; m < Modes; m++)
        {
            double t = time_chain(s, (Mode)m, c, m == Plain ? reference : out, rounds, reps);
            const char* same = !Compared(m) ? "" : out == reference ? ", final vector = plain's" : ", FINAL VECTOR DIFFERS FROM PLAIN'S";
            failures += Compared(m) && out != reference;
            printf("  %-21s %8.1f us  %.2f TB/s  %.2f us a kernel%s\n", ModeNames[m], t, c.bytes / t / 1e6, t / c.gemvs.size(), same);
        }
    }
    return failures;
}

int main()
{
    cudaStream_t s = start_on_device(multiprocessors);
    int failures = 0;

    Chain tiny{"224 one-block kernels (2 rows, k 1536)", {}, 0, nullptr, {nullptr, nullptr}, nullptr};
    for (int i = 0; i < 224; i++) tiny.gemvs.push_back(make_gemv(2, 1536, 100 + i, true));
    failures += run(s, tiny, 20, 9, 2);

    Chain small = make_layers("Qwen2.5-1.5B projections (28 layers x qkv, o, gate_up, down)", 28, 1536, 2048, 8960);
    failures += run(s, small, 10, 9, 2);
    Chain large = make_layers("Qwen2.5-7B projections (28 layers x qkv, o, gate_up, down)", 28, 3584, 4608, 18944);
    failures += run(s, large, 4, 7, 2);

    printf("%s\n", failures == 0 ? "every mode gave plain's final vector" : "SOME MODES DIFFER FROM PLAIN");
    return failures == 0 ? 0 : 1;
}
