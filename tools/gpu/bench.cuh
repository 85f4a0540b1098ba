// Host helpers of the nvcc-only microbenchmarks in tools/gpu (every .cu there):
// the error check, the device line and stream, a launch with programmatic dependent launch allowed (the backend's one-token kernels' way), and the
// median time of a captured CUDA graph replayed back to back.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(call)                                                                                         \
    do {                                                                                                    \
        cudaError_t e_ = (call);                                                                            \
        if (e_ != cudaSuccess) { fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); exit(1); } \
    } while (0)

// Deterministic values in [-scale, scale) from a hash of the index.
__global__ void fill(__nv_bfloat16* p, long long count, unsigned seed, float scale)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x)
    {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13; h *= 3266489917u; h ^= h >> 16;
        p[i] = __float2bfloat16(((h & 0xffffff) / 8388608.f - 1.f) * scale);
    }
}

template <class... Params, class... Args>
static void launch_pdl(cudaStream_t s, void (*kernel)(Params...), dim3 grid, dim3 threads, size_t sharedBytes, Args... args)
{
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = threads;
    config.dynamicSmemBytes = sharedBytes;
    config.stream = s;
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[0].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
    CHECK(cudaLaunchKernelEx(&config, kernel, args...));
}

// Prints the device and returns a stream for the run, and the device's multiprocessor count in multiprocessors.
static cudaStream_t start_on_device(int& multiprocessors)
{
    cudaDeviceProp p;
    CHECK(cudaGetDeviceProperties(&p, 0));
    multiprocessors = p.multiProcessorCount;
    printf("%s, %d SMs, L2 %d MB\n", p.name, multiprocessors, p.l2CacheSize >> 20);
    cudaStream_t s;
    CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
}

// Captures what record() launches on s into a graph, replays it 3 times, then returns the median microseconds a replay
// over `reps` timings of `rounds` replays each; what the replays computed stays in memory for the caller to check.
template <class Record>
static double time_graph(cudaStream_t s, Record record, int rounds, int reps)
{
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    record();
    CHECK(cudaStreamEndCapture(s, &graph));
    CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < 3; i++) CHECK(cudaGraphLaunch(exec, s));
    cudaEvent_t a, b;
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&b));
    std::vector<double> times;
    for (int r = 0; r < reps; r++)
    {
        CHECK(cudaEventRecord(a, s));
        for (int i = 0; i < rounds; i++) CHECK(cudaGraphLaunch(exec, s));
        CHECK(cudaEventRecord(b, s));
        CHECK(cudaEventSynchronize(b));
        float ms;
        CHECK(cudaEventElapsedTime(&ms, a, b));
        times.push_back(ms * 1000.0 / rounds);
    }
    std::sort(times.begin(), times.end());
    CHECK(cudaEventDestroy(a));
    CHECK(cudaEventDestroy(b));
    CHECK(cudaGraphExecDestroy(exec));
    CHECK(cudaGraphDestroy(graph));
    return times[times.size() / 2];
}
