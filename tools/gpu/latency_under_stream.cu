// How long a dependent load takes while other SMs stream weights from DRAM (issue 8, docs/benchmarks/cuda-h200.md,
// run 23). Decode attention is a chain of dependent loads (q, the newest key and value, the later tiles, the merge);
// run 21 found it ~2.3 us slower when weights streamed beside it, which sank every way of filling its window with the
// next weights. Where does a hop's time go, and which kind of memory keeps its latency under the stream?
// One thread chases indices (each load's value is the next load's index) through:
//   L2       a 1 MB cycle of lines, read once before timing so that it is in L2 (ld.global.cg)
//   DRAM     a cycle of lines spread over 1 GB (each hop a miss)
//   DSMEM    the shared memory of the other block of a 2-block cluster (distributed shared memory)
//   shared   its own block's shared memory
// while a stream kernel on another CUDA stream reads a 2 GB buffer with gemv.cu's evict-first weight loads, from B
// blocks of 256 threads on all SMs but 16, for a fixed time; the chase runs inside that window (checked from both
// kernels' timers), on one of the 16 quiet SMs or on a streaming one (busy): the first is where the dependent work of a
// whole-step kernel could run beside the stream, the second is attention's blocks sharing SMs with streaming ones.
// Printed: ns a hop for each chase, B and SM, and the stream's TB/s while it ran.
// Build and run on the GPU machine:
//   nvcc -O3 -std=c++17 -arch=sm_90 -o /tmp/latency_under_stream tools/gpu/latency_under_stream.cu && /tmp/latency_under_stream
// (tools/gpu/all.sh run latency does that and keeps the log).
#include "bench.cuh"
#include <cooperative_groups.h>
#include <numeric>
#include <random>

#include "../../ReasoningServe.Inference/Backends/Cuda/Kernels/gemv.cu"

namespace cg = cooperative_groups;

__device__ __forceinline__ unsigned sm_id()
{
    unsigned id;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
    return id;
}

// The stream leaves the SMs below QuietSms alone (its blocks that land there return at once), so that a chase can run
// on an SM that streams nothing while the others stream (quiet) or on one that streams too (busy).
constexpr unsigned QuietSms = 16;

// Streams `words` uint4 of src for about durationNs, 8 loads a thread in flight; adds the bytes it read to *bytes and
// records its first block's start and its last end in window[0..1]. Its 4 KB of shared memory are gemv_wide's, so that
// the SMs' split between L1 and shared memory is what the backend's kernels leave.
__global__ void __launch_bounds__(256) stream(const uint4* __restrict__ src, long long words, unsigned long long durationNs,
    unsigned long long* bytes, unsigned long long* window)
{
    __shared__ float partial[WIDE_MAX_ROWS][33];
    if (sm_id() < QuietSms) return;
    const unsigned long long start = global_ns();
    if (threadIdx.x == 0) atomicMin(window, start);
    const long long stride = (long long)gridDim.x * blockDim.x;
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    unsigned acc = 0, loads = 0;
    while (global_ns() - start < durationNs)
    {
        uint4 v[8];
#pragma unroll
        for (int u = 0; u < 8; u++) v[u] = load_weights(src + (i + u * stride) % words);
#pragma unroll
        for (int u = 0; u < 8; u++) acc ^= v[u].x ^ v[u].w;
        i = (i + 8 * stride) % words;
        loads += 8;
    }
    partial[threadIdx.x >> 5][threadIdx.x & 31] = (float)acc;
    __syncthreads();
    atomicAdd(bytes, (unsigned long long)loads * 16 + (partial[0][0] == 1.5f)); // keeps the loads
    if (threadIdx.x == 0) atomicMax(window + 1, global_ns());
}

// Whether this block takes the chase: the first block on a quiet SM (quiet) or on a streaming one (busy) to claim it.
__device__ __forceinline__ bool claim(bool onQuietSm, bool quiet, unsigned* claimed)
{
    return onQuietSm == quiet && atomicCAS(claimed, 0u, 1u) == 0u;
}

// One thread chases `hops` indices through p (global memory, read through L2) from index first, after `warm` untimed
// hops, in the one block that claims the chase.
__global__ void chase_global(const unsigned* __restrict__ p, unsigned first, int warm, int hops, bool quiet, unsigned* claimed,
    unsigned long long* result)
{
    if (threadIdx.x != 0 || !claim(sm_id() < QuietSms, quiet, claimed)) return;
    unsigned i = first;
    for (int h = 0; h < warm; h++) i = __ldcg(p + i);
    const unsigned long long start = global_ns();
    for (int h = 0; h < hops; h++) i = __ldcg(p + i);
    const unsigned long long end = global_ns();
    result[0] = start;
    result[1] = end;
    result[2] = i;
}

// Block 1 of a cluster fills its shared memory with the cycle; block 0's thread 0 chases it there (remote = true) or in
// its own copy (remote = false), in the one cluster that claims the chase (both blocks quiet, or both busy).
constexpr int SharedWords = 1024;

__global__ void __cluster_dims__(2, 1, 1) chase_shared(const unsigned* __restrict__ cycle, int hops, bool remote, bool quiet, unsigned* claimed,
    unsigned long long* result)
{
    __shared__ unsigned words[SharedWords];
    __shared__ unsigned onQuietSm, taken;
    for (int i = threadIdx.x; i < SharedWords; i += blockDim.x) words[i] = cycle[i];
    if (threadIdx.x == 0) onQuietSm = sm_id() < QuietSms;
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();
    if (cluster.block_rank() == 0 && threadIdx.x == 0)
    {
        const bool bothQuiet = onQuietSm && *cluster.map_shared_rank(&onQuietSm, 1);
        const bool bothBusy = !onQuietSm && !*cluster.map_shared_rank(&onQuietSm, 1);
        taken = (bothQuiet || bothBusy) && claim(bothQuiet, quiet, claimed);
    }
    cluster.sync();
    if (cluster.block_rank() == 0 && threadIdx.x == 0 && taken)
    {
        volatile unsigned* p = remote ? cluster.map_shared_rank(words, 1) : words;
        unsigned i = 0;
        for (int h = 0; h < 64; h++) i = p[i];
        const unsigned long long start = global_ns();
        for (int h = 0; h < hops; h++) i = p[i];
        const unsigned long long end = global_ns();
        result[0] = start;
        result[1] = end;
        result[2] = i;
    }
    cluster.sync(); // block 1's shared memory stays until block 0 is done with it
}

// A cycle through `lines` lines spaced `lineWords` apart in a buffer of lines * lineWords words: entry i * lineWords
// holds the next line's first index, in a random order.
static std::vector<unsigned> cycle(size_t lines, size_t lineWords, unsigned seed)
{
    std::vector<unsigned> order(lines);
    std::iota(order.begin(), order.end(), 0u);
    std::mt19937 rng(seed);
    std::shuffle(order.begin() + 1, order.end(), rng);
    std::vector<unsigned> next(lines * lineWords, 0u);
    for (size_t k = 0; k < lines; k++) next[order[k] * lineWords] = (unsigned)(order[(k + 1) % lines] * lineWords);
    return next;
}

static unsigned* upload(const std::vector<unsigned>& v)
{
    unsigned* d;
    CHECK(cudaMalloc(&d, v.size() * sizeof(unsigned)));
    CHECK(cudaMemcpy(d, v.data(), v.size() * sizeof(unsigned), cudaMemcpyHostToDevice));
    return d;
}

int main()
{
    int multiprocessors = 0;
    cudaStream_t chaseStream = start_on_device(multiprocessors);
    cudaStream_t streamStream;
    CHECK(cudaStreamCreateWithFlags(&streamStream, cudaStreamNonBlocking));

    const long long streamWords = (2LL << 30) / 16;
    uint4* streamSrc;
    CHECK(cudaMalloc(&streamSrc, streamWords * 16));
    fill<<<1024, 256>>>((__nv_bfloat16*)streamSrc, streamWords * 8, 7u, 1.f);
    unsigned* l2Cycle = upload(cycle(8192, 32, 1u));              // 1 MB: 8192 lines of 128 B
    unsigned* dramCycle = upload(cycle(1 << 23, 32, 2u));         // 1 GB: 8M lines
    unsigned* sharedCycle = upload(cycle(SharedWords / 32, 32, 3u)); // 32 lines of the 4 KB
    unsigned long long *result, *counters; // result: start, end, index; counters: bytes, window start, window end
    CHECK(cudaMalloc(&result, 3 * sizeof(unsigned long long)));
    CHECK(cudaMalloc(&counters, 3 * sizeof(unsigned long long)));
    unsigned* claimed;
    CHECK(cudaMalloc(&claimed, sizeof(unsigned)));
    CHECK(cudaDeviceSynchronize());

    struct Chase { const char* name; int hops; };
    const Chase chases[] = {{"L2", 2000}, {"DRAM", 400}, {"DSMEM", 2000}, {"shared", 2000}};
    printf("ns a dependent load, one thread, while B blocks of 256 threads stream 2 GB with evict-first loads on another CUDA stream\n");
    printf("from the SMs but the first %u; the chase on one of those (quiet) or on a streaming one (busy)\n", QuietSms);
    printf("%6s %10s %6s %8s %8s %8s %8s\n", "B", "stream", "SM", "L2", "DRAM", "DSMEM", "shared");
    int failures = 0;
    std::mt19937 rng(4u);
    for (int alternation = 0; alternation < 2; alternation++)
        for (int blocks : {0, 66, 132, 198, 264, 396, 528})
            for (bool quiet : {true, false})
            {
                if (blocks == 0 && !quiet) continue;
                unsigned long long init[3] = {0ull, ~0ull, 0ull};
                CHECK(cudaMemcpy(counters, init, sizeof init, cudaMemcpyHostToDevice));
                const unsigned long long durationNs = 20000000ull; // 20 ms: longer than the chases below
                if (blocks > 0) stream<<<blocks, 256, 0, streamStream>>>(streamSrc, streamWords, durationNs, counters, counters + 1);
                double ns[4];
                bool inside = true, ran = true;
                unsigned long long windows[4][2];
                for (int k = 0; k < 4; k++)
                {
                    CHECK(cudaMemsetAsync(claimed, 0, sizeof(unsigned), chaseStream));
                    CHECK(cudaMemsetAsync(result, 0, 3 * sizeof(unsigned long long), chaseStream));
                    // many blocks, so that one lands where it should; the DRAM chase starts at another line each time, so
                    // that no earlier run left its lines in L2
                    if (k == 0) chase_global<<<264, 32, 0, chaseStream>>>(l2Cycle, 0u, 8192, chases[k].hops, quiet, claimed, result);
                    else if (k == 1)
                        chase_global<<<264, 32, 0, chaseStream>>>(dramCycle, (unsigned)(rng() % (1u << 23)) * 32u, 0, chases[k].hops, quiet, claimed, result);
                    else chase_shared<<<264, 128, 0, chaseStream>>>(sharedCycle, chases[k].hops, k == 2, quiet, claimed, result);
                    CHECK(cudaStreamSynchronize(chaseStream));
                    unsigned long long r[3];
                    CHECK(cudaMemcpy(r, result, sizeof r, cudaMemcpyDeviceToHost));
                    ran &= r[1] > r[0];
                    ns[k] = r[1] > r[0] ? (double)(r[1] - r[0]) / chases[k].hops : 0.0;
                    windows[k][0] = r[0];
                    windows[k][1] = r[1];
                }
                CHECK(cudaDeviceSynchronize());
                unsigned long long c[3];
                CHECK(cudaMemcpy(c, counters, sizeof c, cudaMemcpyDeviceToHost));
                double tbs = 0.0;
                if (blocks > 0)
                {
                    tbs = (double)c[0] / (double)(c[2] - c[1]) / 1e3;
                    for (auto& w : windows) inside &= w[0] >= c[1] && w[1] <= c[2];
                }
                failures += !inside || !ran;
                printf("%6d %6.2f TB/s %6s %8.0f %8.0f %8.0f %8.0f%s%s\n", blocks, tbs, blocks == 0 ? "alone" : quiet ? "quiet" : "busy", ns[0], ns[1], ns[2],
                    ns[3], ran ? "" : "  A CHASE FOUND NO SUCH SM", inside ? "" : "  A CHASE RAN OUTSIDE THE STREAM");
            }
    return failures == 0 ? 0 : 1;
}
