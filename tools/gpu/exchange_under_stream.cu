// How long gemv_o_gate_up.cu's row exchange takes, by protocol, while the same SMs stream weights (issue 8,
// docs/benchmarks/cuda-h200.md, run 24). In the fused launch every block computes a few rows of the new residual and then
// needs the whole row (the norm and gate_up take all of it): ~1.7 us a layer on the 1.5B from its rows' stores to the
// sum of squares (run 24's timeline), where an idle L2 round trip is ~150 ns. What is that exchange's floor, and which
// protocol comes nearest it, with the memory quiet and with bulk copies landing on the same SMs?
// One resident launch of one block an SM (less 2, as the fused launch leaves attention's), 512 compute threads and a copy
// warp, runs LAYERS rounds of: compute threads spin WorkNs (the gate_up phase, copies at the pace), then each block
// writes its rows of a hidden-1536 bf16 row and every block gets the whole row and its sum of squares by
//   barrier   the rows stored, a releasing add on a counter, the count polled, the row reloaded (the fused launch's way)
//   flagged   the rows stored as 32-bit words (round << 16 | bf16), polled until every flag is the round's
//   count     the barrier alone, no row (what the handshake costs by itself)
// The copy warp streams a 1 GB buffer into a 4-stage ring of 48 KB with bulk copies at PACE TB/s over the grid (0: no
// stream), and with `quiet` issues nothing from a block's rows being ready to its sum being known (as the fused launch
// does). Printed per protocol and stream: the median and 90th percentile over blocks and rounds of the ns from a block's
// rows being ready to its sum being known, the median over rounds of the span from the first block ready to the last
// block done, and the stream's TB/s over the launch; every block's sums are checked against the host's.
// Build and run on the GPU machine (tools/gpu/all.sh run exchange does this and keeps the log):
//   nvcc -O3 -std=c++17 -arch=sm_90 -o /tmp/exchange_under_stream tools/gpu/exchange_under_stream.cu && /tmp/exchange_under_stream
#include "bench.cuh"
#include <cmath>

// the fused launch's own barrier and sums (compute_sync, grid_barrier, compute_sum), so that the tool times its code
#include "../../ReasoningServe.Inference/Backends/Cuda/Kernels/gemv_o_gate_up.cu"

constexpr int Hidden = 1536, ComputeThreads = 512, Stages = 4, StageBytes = 48 * 1024, Layers = 28;
constexpr unsigned long long WorkNs = 10000;
enum Protocol { Barrier, Flagged, CountOnly };

// The value of element i in round r: any bf16 the host can recompute.
__host__ __device__ inline float element(int r, int i) { return (float)((i * 37 + r * 101) % 251 - 125) / 64.f; }

// rows: 2 x Hidden bf16 (rounds alternate, so a slow block can still read the last round's); flagged: 2 x Hidden words;
// counter: zeroed by the host before each launch. sums[round][block], stamps[round][block][2] (ready, done).
__global__ void __launch_bounds__(ComputeThreads + 32) exchange(Protocol protocol, bf16* rows, unsigned* flagged,
    unsigned long long* counter, const unsigned char* weights, long long weightBytes, unsigned paceNs, int quiet,
    float* sums, unsigned long long* stamps, unsigned long long* copied)
{
    extern __shared__ __align__(128) unsigned char ring[];
    __shared__ unsigned long long bars[Stages];
    __shared__ float scratch[32];
    __shared__ volatile int holding, done; // the copy warp's cues: quiet now; the launch is over
    const int grid = gridDim.x, first = Hidden * blockIdx.x / grid, mine = Hidden * (blockIdx.x + 1) / grid - first;
    if (threadIdx.x == 0)
    {
        for (int s = 0; s < Stages; s++) mbarrier_init(smem_address(&bars[s]), 1);
        holding = done = 0;
        fence_mbarrier_init();
    }
    __syncthreads();

    if (threadIdx.x >= ComputeThreads)
    {
        if (threadIdx.x != ComputeThreads || paceNs == 0) return;
        // the copy warp: stage t into slot t % Stages once the slot's last copy has landed, at most one a paceNs
        const long long span = weightBytes - StageBytes; // no copy runs past the buffer's end
        long long at = (long long)blockIdx.x * StageBytes * Stages % span;
        unsigned long long issued = 0, bytes = 0;
        for (int t = 0; !done; t++)
        {
            const int slot = t % Stages;
            if (t >= Stages) mbarrier_wait(smem_address(&bars[slot]), (t / Stages - 1) & 1);
            while (!done && (global_ns() - issued < paceNs || holding)) __nanosleep(64);
            if (done) break;
            issued = global_ns();
            mbarrier_arrive_expect_bytes(smem_address(&bars[slot]), StageBytes);
            bulk_copy_weights(smem_address(ring + slot * StageBytes), weights + at, StageBytes, smem_address(&bars[slot]));
            bytes += StageBytes;
            at = (at + (long long)StageBytes * grid) % span;
        }
        for (int u = 0; u < Stages; u++) // the copies still landing in this block's shared memory, before it exits
        {
            const int t = (int)(bytes / StageBytes) - 1 - u;
            if (t >= 0) mbarrier_wait(smem_address(&bars[t % Stages]), (t / Stages) & 1);
        }
        atomicAdd(copied, bytes);
        return;
    }

    for (int r = 0; r < Layers; r++)
    {
        if (threadIdx.x == 0)
        {
            const unsigned long long start = global_ns();
            while (global_ns() - start < WorkNs) { }
        }
        bf16* row = rows + (r & 1) * Hidden;
        unsigned* words = flagged + (r & 1) * Hidden;
        const unsigned flag = (unsigned)(r + 1) << 16;
        compute_sync(ComputeThreads);
        unsigned long long ready = 0;
        if (threadIdx.x == 0)
        {
            if (quiet) holding = 1;
            ready = global_ns();
        }
        float s = 0.f;
        if (protocol == Flagged)
        {
            if (threadIdx.x < mine)
            {
                const bf16 v = __float2bfloat16(element(r, first + threadIdx.x));
                asm volatile("st.relaxed.gpu.global.u32 [%0], %1;" ::"l"(words + first + threadIdx.x), "r"(flag | __bfloat16_as_ushort(v)) : "memory");
            }
            if (threadIdx.x < Hidden / 8)
            {
                uint4 lo, hi;
                do
                {
                    asm volatile("ld.relaxed.gpu.global.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(lo.x), "=r"(lo.y), "=r"(lo.z), "=r"(lo.w) : "l"(words + 8 * threadIdx.x) : "memory");
                    asm volatile("ld.relaxed.gpu.global.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(hi.x), "=r"(hi.y), "=r"(hi.z), "=r"(hi.w) : "l"(words + 8 * threadIdx.x + 4) : "memory");
                } while (((lo.x ^ flag) | (lo.y ^ flag) | (lo.z ^ flag) | (lo.w ^ flag) | (hi.x ^ flag) | (hi.y ^ flag) | (hi.z ^ flag) | (hi.w ^ flag)) >> 16);
                add_squares8(s, make_uint4(__byte_perm(lo.x, lo.y, 0x5410), __byte_perm(lo.z, lo.w, 0x5410), __byte_perm(hi.x, hi.y, 0x5410),
                    __byte_perm(hi.z, hi.w, 0x5410)));
            }
        }
        else
        {
            if (protocol == Barrier && threadIdx.x < mine) row[first + threadIdx.x] = __float2bfloat16(element(r, first + threadIdx.x));
            grid_barrier(counter, (unsigned long long)(r + 1) * grid, ComputeThreads);
            if (protocol == Barrier && threadIdx.x < Hidden / 8) add_squares8(s, __ldcg((const uint4*)row + threadIdx.x));
        }
        const float total = compute_sum(s, scratch, ComputeThreads);
        compute_sync(ComputeThreads); // scratch is reused next round
        if (threadIdx.x == 0)
        {
            stamps[((long long)r * grid + blockIdx.x) * 2] = ready;
            stamps[((long long)r * grid + blockIdx.x) * 2 + 1] = global_ns();
            sums[(long long)r * grid + blockIdx.x] = total;
            holding = 0;
        }
    }
    if (threadIdx.x == 0) done = 1;
}

int main()
{
    int sms;
    cudaStream_t s = start_on_device(sms);
    const int grid = sms - 2;
    const long long weightBytes = 1LL << 30;
    unsigned char* weights;
    bf16* rows;
    unsigned* flagged;
    unsigned long long *counter, *stamps, *copied;
    float* sums;
    CHECK(cudaMalloc(&weights, weightBytes));
    CHECK(cudaMalloc(&rows, 2 * Hidden * sizeof(bf16)));
    CHECK(cudaMalloc(&flagged, 2 * Hidden * sizeof(unsigned)));
    CHECK(cudaMalloc(&counter, 8));
    CHECK(cudaMalloc(&copied, 8));
    CHECK(cudaMalloc(&stamps, (size_t)Layers * grid * 2 * 8));
    CHECK(cudaMalloc(&sums, (size_t)Layers * grid * sizeof(float)));
    fill<<<1024, 256, 0, s>>>((bf16*)weights, weightBytes / 2, 7, 1.f);
    const int sharedBytes = Stages * StageBytes;
    CHECK(cudaFuncSetAttribute(exchange, cudaFuncAttributeMaxDynamicSharedMemorySize, sharedBytes));

    // the host's sums: bf16 values squared in add_squares8's order does not matter to within float rounding here, so the
    // check allows 1e-5 relative
    std::vector<float> expected(Layers);
    for (int r = 0; r < Layers; r++)
    {
        double t = 0;
        for (int i = 0; i < Hidden; i++)
        {
            float v = __bfloat162float(__float2bfloat16(element(r, i)));
            t += (double)v * v;
        }
        expected[r] = (float)t;
    }

    const char* names[] = {"barrier", "flagged", "count"};
    printf("%d blocks of %d + 32 threads, %d rounds a launch, %llu us of work a round; ns from a block's rows ready to its sum\n",
        grid, ComputeThreads, Layers, WorkNs / 1000);
    for (double pace : {0.0, 3.0, 4.0, 5.0})
    {
        for (int quiet = 0; quiet <= (pace > 0 ? 1 : 0); quiet++)
        {
            for (Protocol protocol : {Barrier, Flagged, CountOnly})
            {
                std::vector<long long> each, spans;
                double rate = 0;
                bool right = true;
                for (int rep = 0; rep < 5; rep++)
                {
                    CHECK(cudaMemsetAsync(counter, 0, 8, s));
                    CHECK(cudaMemsetAsync(copied, 0, 8, s));
                    CHECK(cudaMemsetAsync(flagged, 0, 2 * Hidden * sizeof(unsigned), s));
                    // paceNs: a stage a block at `pace` TB/s over the grid
                    const unsigned paceNs = pace > 0 ? (unsigned)(StageBytes * (double)grid / (pace * 1000)) : 0;
                    cudaEvent_t a, b;
                    CHECK(cudaEventCreate(&a));
                    CHECK(cudaEventCreate(&b));
                    CHECK(cudaEventRecord(a, s));
                    exchange<<<grid, ComputeThreads + 32, sharedBytes, s>>>(protocol, rows, flagged, counter, weights, weightBytes, paceNs, quiet,
                        sums, stamps, copied);
                    CHECK(cudaEventRecord(b, s));
                    CHECK(cudaStreamSynchronize(s));
                    CHECK(cudaGetLastError());
                    float ms;
                    CHECK(cudaEventElapsedTime(&ms, a, b));
                    std::vector<unsigned long long> st((size_t)Layers * grid * 2);
                    std::vector<float> su((size_t)Layers * grid);
                    unsigned long long bytes;
                    CHECK(cudaMemcpy(st.data(), stamps, st.size() * 8, cudaMemcpyDeviceToHost));
                    CHECK(cudaMemcpy(su.data(), sums, su.size() * 4, cudaMemcpyDeviceToHost));
                    CHECK(cudaMemcpy(&bytes, copied, 8, cudaMemcpyDeviceToHost));
                    rate = bytes / (ms * 1e-3) / 1e12;
                    for (int r = 1; r < Layers; r++) // round 0 waits for every block to start
                    {
                        unsigned long long firstReady = ~0ull, lastDone = 0;
                        for (int blk = 0; blk < grid; blk++)
                        {
                            const unsigned long long ready = st[((size_t)r * grid + blk) * 2], end = st[((size_t)r * grid + blk) * 2 + 1];
                            each.push_back((long long)(end - ready));
                            firstReady = std::min(firstReady, ready);
                            lastDone = std::max(lastDone, end);
                            const float want = protocol == CountOnly ? 0.f : expected[r];
                            right = right && fabsf(su[(size_t)r * grid + blk] - want) <= 1e-5f * fabsf(want);
                        }
                        spans.push_back((long long)(lastDone - firstReady));
                    }
                    CHECK(cudaEventDestroy(a));
                    CHECK(cudaEventDestroy(b));
                }
                std::sort(each.begin(), each.end());
                std::sort(spans.begin(), spans.end());
                printf("  %-8s stream %.1f TB/s paced%s (%.2f TB/s over the launch): median %5lld p90 %5lld ns a block, span %5lld ns a round | sums %s\n",
                    names[protocol], pace, quiet ? ", quiet" : "", rate, each[each.size() / 2], each[each.size() * 9 / 10], spans[spans.size() / 2],
                    right ? "right" : "WRONG");
            }
        }
    }
    return 0;
}
