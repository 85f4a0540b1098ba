// A whole one-token decode step (one sequence) in one persistent launch: the step CudaBackend.Step.cs queues as ~7
// kernels per layer, for models without q/k norms or o / gate_up / down biases (Qwen2, Llama), up to the fp32 logits.
// One block per multiprocessor; the blocks meet at a grid barrier between phases:
//   per layer: qkv (input rmsnorm in the prologue, bias + RoPE + KV cache write in the epilogue) | attention | o |
//              gate_up (post-attention rmsnorm in the prologue) | down (SiLU in the prologue) |
//   then lm_head (final rmsnorm in the prologue).
// Why one launch: a 1.5B step streams 3.1 GB of weights in ~0.73 ms at the H200's bandwidth, ~26 us a layer, and its
// qkv and o projections take ~1.5 and ~1.1 us of that; as separate kernels each boundary (drain, launch, ramp) costs
// about as much again, and the norms and attention stream nothing (docs/benchmarks/cuda-h200.md, run 6). Here the
// weights do not wait for the phases: each thread streams the weight rows it will multiply, in the order it will
// multiply them across phases and layers, through its own ring of SLOTS row slots in shared memory (16-byte cp.async,
// one commit group per row), SLOTS rows ahead of the one it multiplies. At a barrier, in attention and in a norm the
// ring keeps filling, so the bytes in flight carry on through them.
// Measured on the H200 (docs/benchmarks/cuda-h200.md, run 7) it is slower than the separate kernels: 1.5B 1.78 against
// 1.32 ms, 7B 4.84 against 3.77. The projections stream as fast as there (7B gate_up 4 TB/s), but a ring holds ~5 us
// of a multiprocessor's share of the stream, and a layer's barriers, attention and norms take 20-30 us in which the
// blocks mostly wait, much of it for the slowest block at a barrier (static rows: no block can take over another's
// tail). So it stays opt-in (RS_CUDA_PERSISTENT=1).
// A projection's rows are laid out as gemv.cu's wide layout lays them out (its CPT = 5): a group of G threads takes a
// row, thread q of the group its chunks q, q + G, ... and the warps' sums meet in shared memory in warp order, G being
// the wide block size for that row length; each block takes the rows gemv.cu's first() gives it and its groups share
// them in turn. The norms are rmsnorm.cu's (every block computes the whole normalized row for itself, block 0 also
// writes the new residual to the other of two buffers), attention is decode_attention.cu's on the first 128 threads of
// a block per (KV head, split), the last split of a head merging them as attention_combine.cu does. So each phase's
// arithmetic is the separate kernels' in the same order: the logits are bit-exact with the graph step's with every
// one-token GEMM in the wide layout (RS_CUDA_GEMV_WIDE=all), which tools/cuda-check checks.
// Activations that other blocks of this launch wrote are read through L2 (ld.global.cg / cp.async.cg), never L1.
// The model's shape comes as macros (Ops/DecodeStep.cs compiles a build per model); the defaults are Qwen2.5-0.5B's, the
// build the unit tests compile. grid: the multiprocessor count (all resident: one block per SM fits, and the host
// launches no more); block: THREADS; dynamic shared memory: ATT_SMEM_BYTES + SLOTS * CPT_MAX * THREADS * 16.
#include "decode_attention.cuh"
#include "attention_combine.cuh"
#include "gemv.cuh"

#ifndef HIDDEN
#define HIDDEN 896
#define INTER 4864
#define HEADS 14
#define KV_HEADS 2
#define HEAD_SIZE 64
#define LAYERS 24
#define VOCAB 151936
#define G_H 32  // wide threads per row of HIDDEN (qkv, gate_up, lm_head)
#define G_Q 32  // of HEADS * HEAD_SIZE (o)
#define G_I 128 // of INTER (down)
#define THREADS 512
#define SLOTS 4
#endif

#define TABLE_MAX 256 // block-table entries copied to shared memory (longer contexts read the table from global memory)

#define CPT_MAX 5 // gemv.cu's CPT: G is the wide block size that gives each thread at most this many chunks of a row
#define QSIZE (HEADS * HEAD_SIZE)
#define KVSIZE (KV_HEADS * HEAD_SIZE)
#define WARPS (THREADS / 32)
#define PHASES (4 * LAYERS + 1) // qkv, o, gate_up, down per layer, then lm_head

enum Kind { QKV = 0, O = 1, GATE_UP = 2, DOWN = 3, LM_HEAD = 4 };

// A projection's shape: N rows of K, G threads per row (so R rows at once per block), CPT chunks per thread.
template <int KIND> struct Dims;
template <> struct Dims<QKV> { static constexpr int N = QSIZE + 2 * KVSIZE, K = HIDDEN, G = G_H; };
template <> struct Dims<O> { static constexpr int N = HIDDEN, K = QSIZE, G = G_Q; };
template <> struct Dims<GATE_UP> { static constexpr int N = 2 * INTER, K = HIDDEN, G = G_H; };
template <> struct Dims<DOWN> { static constexpr int N = HIDDEN, K = INTER, G = G_I; };
template <> struct Dims<LM_HEAD> { static constexpr int N = VOCAB, K = HIDDEN, G = G_H; };

template <int KIND> struct Shape : Dims<KIND>
{
    static constexpr int C = Dims<KIND>::K / 8, G = Dims<KIND>::G, R = THREADS / G, CPT = (C + G - 1) / G;
    static_assert(G % 32 == 0 && G <= THREADS && CPT <= CPT_MAX, "a row's group is whole warps of the block");
};

struct LayerWeights
{
    const bf16 *qkv, *qkvBias, *o, *gateUp, *down, *inputNorm, *postNorm;
    bf16 *kCache, *vCache;
};

struct StepArgs
{
    const LayerWeights* layers;
    const bf16 *embed, *lmHead, *finalNorm;
    const int *tokenIds, *positions, *slots, *blockTables, *tokenSeq, *tokenContext;
    const float* invFreq;
    bf16 *residual0, *residual1, *delta, *qkv, *attn, *gateUp;
    float *logits, *partialOut, *partialMax, *partialSum;
    unsigned* sync; // [0]: blocks arrived at barriers (zeroed before each launch), [64 + g]: KV head g's finished splits
    unsigned long long* timing; // null, or block 0's clock at each phase boundary (tools/cuda-check's profile)
    int maxBlocks, blockSize, splits;
    float eps, scale;
};

// The first 128 threads' barrier (named barrier 1), for attention while the rest of the block waits at the grid barrier.
struct AttentionSync
{
    __device__ __forceinline__ void operator()() const { asm volatile("bar.sync 1, 128;" ::: "memory"); }
};

__device__ __forceinline__ unsigned load_acquire(const unsigned* p)
{
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

// Every block's writes before it are visible to every block after it. The count of arrivals only grows during a launch
// (the host zeroes it before each), so a barrier is one reduction per block and a wait for the count that means "all
// blocks have arrived this many times".
__device__ __forceinline__ void grid_sync(unsigned* arrivals, unsigned& target)
{
    target += gridDim.x;
    __syncthreads();
    if (threadIdx.x == 0)
    {
        asm volatile("fence.acq_rel.gpu;" ::: "memory"); // with the relaxed add below: a release of the block's writes
        asm volatile("red.relaxed.gpu.global.add.u32 [%0], 1;" ::"l"(arrivals) : "memory");
        while (load_acquire(arrivals) < target) { }
        asm volatile("fence.acq_rel.gpu;" ::: "memory");
    }
    __syncthreads();
}

// tools/cuda-check's profile: block 0's SM clock at event e of the step (per layer: LAYER_EVENTS of them).
#define LAYER_EVENTS 12
__device__ __forceinline__ void record(const StepArgs& a, int index, unsigned long long value)
{
    if (a.timing != nullptr && blockIdx.x == 0 && threadIdx.x == 0) a.timing[index] = value;
}

__device__ __forceinline__ void mark(const StepArgs& a, int e) { record(a, e, clock64()); }

__device__ __forceinline__ int phase_kind(int phase) { return phase == PHASES - 1 ? LM_HEAD : phase & 3; }

// The block's rows of a projection, as gemv.cu's wide grids share them (QKV in RoPE pairs).
template <int KIND> __device__ __forceinline__ int block_first(int block)
{
    constexpr int N = Dims<KIND>::N;
    return KIND == QKV ? wide_first_pair_row(N, block, gridDim.x) : wide_first_row(N, block, gridDim.x);
}

// Each kind's first row and row count for this block, found once per launch.
__shared__ int blockRows[5][2];

template <int KIND> __device__ __forceinline__ void find_block_rows()
{
    blockRows[KIND][0] = block_first<KIND>(blockIdx.x);
    blockRows[KIND][1] = block_first<KIND>(blockIdx.x + 1) - blockRows[KIND][0];
}

// How many of the block's rows this thread's group takes.
template <int KIND> __device__ __forceinline__ int group_rows()
{
    using S = Shape<KIND>;
    const int rows = blockRows[KIND][1], g = threadIdx.x / S::G;
    return threadIdx.x < S::R * S::G && g < rows ? (rows - g + S::R - 1) / S::R : 0;
}

// The step's own inputs, read once per launch instead of once per layer: the token's position and cache slot, RoPE's
// inverse frequencies and (when it fits) the sequence's block table.
__shared__ int stepPosition, stepSlot, stepContext;
__shared__ float stepInvFreq[HEAD_SIZE / 2];
__shared__ int stepTable[TABLE_MAX];

__device__ __forceinline__ const int* load_step_inputs(const StepArgs& a)
{
    const int* table = a.blockTables + (long long)a.tokenSeq[0] * a.maxBlocks;
    const int context = a.tokenContext[0], entries = (context + a.blockSize - 1) / a.blockSize;
    if (threadIdx.x == 0)
    {
        stepPosition = a.positions[0];
        stepSlot = a.slots[0];
        stepContext = context;
    }
    for (int i = threadIdx.x; i < HEAD_SIZE / 2; i += THREADS) stepInvFreq[i] = a.invFreq[i];
    if (entries <= TABLE_MAX)
        for (int i = threadIdx.x; i < entries; i += THREADS) stepTable[i] = table[i];
    __syncthreads();
    return entries <= TABLE_MAX ? stepTable : table;
}

// Where the weight stream stands: the next row to request (phase, the thread's row index in it) and that phase's
// weights and row count.
struct Cursor
{
    int phase, row, count;
    const bf16* w;
};

__device__ __forceinline__ void enter_phase(Cursor& c, const StepArgs& a)
{
    c.row = 0;
    if (c.phase >= PHASES) return;
    const int layer = c.phase >> 2;
    switch (phase_kind(c.phase))
    {
    case QKV: c.w = a.layers[layer].qkv; c.count = group_rows<QKV>(); break;
    case O: c.w = a.layers[layer].o; c.count = group_rows<O>(); break;
    case GATE_UP: c.w = a.layers[layer].gateUp; c.count = group_rows<GATE_UP>(); break;
    case DOWN: c.w = a.layers[layer].down; c.count = group_rows<DOWN>(); break;
    default: c.w = a.lmHead; c.count = group_rows<LM_HEAD>(); break;
    }
}

__device__ __forceinline__ unsigned ring_address(unsigned ring, int slot, int i)
{
    return ring + (unsigned)(((slot * CPT_MAX + i) * THREADS + threadIdx.x) * 16);
}

template <int KIND> __device__ __forceinline__ void request_row(const Cursor& c, unsigned ring, int slot)
{
    using S = Shape<KIND>;
    const int local = threadIdx.x / S::G + c.row * S::R, q = threadIdx.x % S::G;
    int row = blockRows[KIND][0] + local;
    if (KIND == QKV) row = rope_pair_row(row, HEAD_SIZE);
    const uint4* src = (const uint4*)(c.w + (long long)row * S::K);
#pragma unroll
    for (int i = 0; i < S::CPT; i++)
    {
        const int chunk = q + i * S::G;
        cp_async16(ring_address(ring, slot, i), chunk < S::C ? src + chunk : src, chunk < S::C ? 16 : 0); // zeros past the row
    }
}

// Requests the thread's next weight row into the ring slot just freed: one commit group per slot, empty at the end.
__device__ __forceinline__ void request_next(Cursor& c, const StepArgs& a, unsigned ring, int slot)
{
    while (c.phase < PHASES && c.row >= c.count)
    {
        c.phase++;
        enter_phase(c, a);
    }
    if (c.phase < PHASES)
    {
        switch (phase_kind(c.phase))
        {
        case QKV: request_row<QKV>(c, ring, slot); break;
        case O: request_row<O>(c, ring, slot); break;
        case GATE_UP: request_row<GATE_UP>(c, ring, slot); break;
        case DOWN: request_row<DOWN>(c, ring, slot); break;
        default: request_row<LM_HEAD>(c, ring, slot); break;
        }
        c.row++;
    }
    cp_async_commit();
}

// xs = rmsnorm(residual + delta) * w as rmsnorm.cu's add_rmsnorm rounds it (rmsnorm's without delta), the first 256
// threads taking rmsnorm.cu's chunks (the others add zeros to the sum, which leaves it as it is); block 0 writes the
// new residual.
#define NORM_PER_THREAD ((HIDDEN / 8 + 255) / 256)
static_assert(NORM_PER_THREAD <= 4, "rmsnorm.cu keeps rows of up to 8192 in registers");

// A norm's weight, this thread's chunks of it: requested before the barrier ahead of the norm (it is no activation), so
// that its latency overlaps the wait instead of following it.
struct NormWeight
{
    uint4 v[NORM_PER_THREAD];
};

__device__ __forceinline__ void load_norm_weight(const bf16* w, NormWeight& out)
{
#pragma unroll
    for (int j = 0; j < NORM_PER_THREAD; j++)
    {
        const int c = threadIdx.x + j * 256;
        out.v[j] = threadIdx.x < 256 && c < HIDDEN / 8 ? __ldg((const uint4*)w + c) : make_uint4(0, 0, 0, 0);
    }
}

// The qkv bias in shared memory for the projection's epilogue: requested into registers before the barrier ahead of
// the qkv phase, stored after it.
#define BIAS_CHUNKS ((QSIZE + 2 * KVSIZE) / 8)
#define BIAS_PER_THREAD ((BIAS_CHUNKS + THREADS - 1) / THREADS)

struct QkvBias
{
    uint4 v[BIAS_PER_THREAD];
};

__device__ __forceinline__ void load_bias(const bf16* bias, QkvBias& out)
{
#pragma unroll
    for (int j = 0; j < BIAS_PER_THREAD; j++)
    {
        const int c = threadIdx.x + j * THREADS;
        out.v[j] = bias != nullptr && c < BIAS_CHUNKS ? __ldg((const uint4*)bias + c) : make_uint4(0, 0, 0, 0);
    }
}

__device__ __forceinline__ void store_bias(const QkvBias& bias, uint4* shared)
{
#pragma unroll
    for (int j = 0; j < BIAS_PER_THREAD; j++)
    {
        const int c = threadIdx.x + j * THREADS;
        if (c < BIAS_CHUNKS) shared[c] = bias.v[j];
    }
}

__device__ __forceinline__ void norm_prologue(const bf16* residual, const bf16* delta, const NormWeight& w, bf16* residualOut, float eps, uint4* xs,
    float* scratch)
{
    constexpr int CHUNKS = HIDDEN / 8, PER_THREAD = NORM_PER_THREAD;
    uint4 v[PER_THREAD];
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < PER_THREAD; j++)
    {
        const int c = threadIdx.x + j * 256;
        if (threadIdx.x < 256 && c < CHUNKS)
        {
            v[j] = __ldcg((const uint4*)residual + c);
            if (delta != nullptr) v[j] = add_residual8(v[j], __ldcg((const uint4*)delta + c));
            if (blockIdx.x == 0) ((uint4*)residualOut)[c] = v[j];
            add_squares8(s, v[j]);
        }
    }
    const float scale = rsqrtf(block_sum(s, scratch) / HIDDEN + eps);
#pragma unroll
    for (int j = 0; j < PER_THREAD; j++)
    {
        const int c = threadIdx.x + j * 256;
        if (threadIdx.x < 256 && c < CHUNKS) xs[c] = rms_normalized8(v[j], scale, w.v[j]);
    }
    __syncthreads();
}

// A projection's input chunk c: the normalized row in shared memory, attention's output, or silu(gate) * up.
struct SharedInput
{
    const uint4* xs;
    __device__ __forceinline__ uint4 load(int c) const { return xs[c]; }
};

struct L2Input
{
    const bf16* x;
    __device__ __forceinline__ uint4 load(int c) const { return __ldcg((const uint4*)x + c); }
};

struct SiluL2Input
{
    const bf16* gateUp;
    __device__ __forceinline__ uint4 load(int c) const { return silu_times8(__ldcg((const uint4*)gateUp + c), __ldcg((const uint4*)(gateUp + INTER) + c)); }
};

// One projection: the thread multiplies its rows from the ring (requesting a later row into each slot it frees), the
// warps' sums meet in partial[row][warp of the group], and the block's warps store 32 rows at a time.
template <int KIND, class Input, class Rows>
__device__ __noinline__ void project(const Input& in, const Rows& out, Cursor& cursor, const StepArgs& a, unsigned ring, int& slot,
    float* partial)
{
    using S = Shape<KIND>;
    constexpr int WPG = S::G / 32; // warps per group
    const int q = threadIdx.x % S::G, g = threadIdx.x / S::G, lane = threadIdx.x & 31;
    const bool active = threadIdx.x < S::R * S::G;
    uint4 xv[S::CPT];
#pragma unroll
    for (int i = 0; i < S::CPT; i++)
    {
        const int c = q + i * S::G;
        xv[i] = active && c < S::C ? in.load(c) : make_uint4(0, 0, 0, 0);
    }
    const int count = group_rows<KIND>();
    const uint4* ringChunks = (const uint4*)__cvta_shared_to_generic(ring);
    for (int r = 0; r < count; r++)
    {
        cp_async_wait<SLOTS - 1>(); // this row's group (SLOTS - 1 newer ones may still fly)
        float acc = 0.f;
#pragma unroll
        for (int i = 0; i < S::CPT; i++) fma8(acc, ringChunks[(slot * CPT_MAX + i) * THREADS + threadIdx.x], xv[i]);
        request_next(cursor, a, ring, slot); // after acc used the slot: the copy cannot overtake the reads
        slot = slot == SLOTS - 1 ? 0 : slot + 1;
        const float v = warp_sum(acc);
        if (lane == 0) partial[(g + r * S::R) * WPG + q / 32] = v;
    }
    __syncthreads();
    const int first = blockRows[KIND][0], rows = blockRows[KIND][1];
    for (int base = (threadIdx.x >> 5) * 32; base < rows; base += THREADS)
    {
        const int r = base + lane;
        float v = 0.f;
        if (r < rows)
#pragma unroll
            for (int w = 0; w < WPG; w++) v += partial[r * WPG + w];
        out.store(v, first + r, r < rows);
    }
}

// Attention of the token's (KV head, split) pairs on the first 128 threads of blocks 0, 1, ...; with splits, the last
// split of a head to finish (a ticket per head) merges the head's rows, one warp per query head.
__device__ __noinline__ void attend(const StepArgs& a, const LayerWeights& layer, const int* table, unsigned char* smem)
{
    if (threadIdx.x >= ATT_THREADS) return;
    __shared__ int lastSplit;
    const int context = stepContext;
    for (int item = blockIdx.x; item < KV_HEADS * a.splits; item += gridDim.x)
    {
        const int g = item / a.splits, split = item % a.splits;
        decode_attention_group<HEAD_SIZE, HEAD_SIZE == 128 ? 3 : 6, false>(a.qkv, QSIZE + 2 * KVSIZE, a.attn, a.partialOut, a.partialMax,
            a.partialSum, layer.kCache, layer.vCache, table, 0, context, HEADS, KV_HEADS, a.blockSize, a.scale, smem, g, split, a.splits,
            AttentionSync{});
        if (a.splits == 1) continue;
        AttentionSync{}();
        if (threadIdx.x == 0)
        {
            __threadfence();
            lastSplit = atomicAdd(a.sync + 64 + g, 1u) == (unsigned)a.splits - 1;
            __threadfence();
        }
        AttentionSync{}();
        if (!lastSplit) continue;
        constexpr int GROUP = HEADS / KV_HEADS;
        const int warp = threadIdx.x >> 5;
        float* weight = (float*)smem + warp * MAX_SPLITS;
        for (int h = warp; h < GROUP; h += ATT_WARPS)
        {
            const long long row = g * GROUP + h;
            const float inverse = 1.f / combine_weights(a.partialMax, a.partialSum, row, a.splits, weight);
            __syncwarp();
            for (int d = threadIdx.x & 31; d < HEAD_SIZE; d += 32)
                a.attn[row * HEAD_SIZE + d] = combine_element(a.partialOut, row, HEAD_SIZE, a.splits, weight, inverse, d);
            __syncwarp();
        }
        if (threadIdx.x == 0) a.sync[64 + g] = 0; // the next layer's attention is a grid barrier away
        AttentionSync{}();
    }
}

extern "C" __global__ void __launch_bounds__(THREADS, 1) decode_step(const __grid_constant__ StepArgs a)
{
    launch_next_grid();
    extern __shared__ __align__(128) unsigned char smem[];
    // [0, ATT_SMEM_BYTES): attention's rings, or (outside attention) the normalized row, the block_sum scratch and the
    // projection's partial sums; then the weight ring [SLOTS][CPT_MAX][THREADS] of 16-byte chunks.
    uint4* xs = (uint4*)smem;
    float* scratch = (float*)(smem + HIDDEN * 2);
    uint4* biasShared = (uint4*)(scratch + 32);
    float* partial = (float*)(biasShared + BIAS_CHUNKS);
    const unsigned ring = smem_address(smem + ATT_SMEM_BYTES);
    if (threadIdx.x == 0)
    {
        find_block_rows<QKV>();
        find_block_rows<O>();
        find_block_rows<GATE_UP>();
        find_block_rows<DOWN>();
        find_block_rows<LM_HEAD>();
    }
    __syncthreads();
    Cursor cursor{0, 0, 0, nullptr};
    enter_phase(cursor, a);
    // Weights only before the wait: the kernel ahead (the step's input copy) writes none of them.
#pragma unroll 1
    for (int s = 0; s < SLOTS; s++) request_next(cursor, a, ring, s);
    wait_for_previous_grid();
    mark(a, LAYERS * LAYER_EVENTS + 1);
    const int* table = load_step_inputs(a);

    int slot = 0;
    unsigned target = 0;
    record(a, LAYERS * LAYER_EVENTS + 2, global_ns());
    const bf16* residual = a.embed + (long long)a.tokenIds[0] * HIDDEN;
    const bf16* delta = nullptr;
    bf16* next = a.residual0;
    NormWeight norm;
    QkvBias bias;
    load_norm_weight(a.layers[0].inputNorm, norm);
    load_bias(a.layers[0].qkvBias, bias);
    for (int l = 0; l < LAYERS; l++)
    {
        const LayerWeights& layer = a.layers[l];
        const int e = l * LAYER_EVENTS;
        store_bias(bias, biasShared); // read after the norm's barriers
        norm_prologue(residual, delta, norm, next, a.eps, xs, scratch);
        mark(a, e);
        residual = next;
        next = next == a.residual0 ? a.residual1 : a.residual0;
        project<QKV>(SharedInput{xs},
            QkvRows{a.qkv, layer.qkvBias != nullptr ? (const bf16*)biasShared : nullptr, &stepPosition, stepInvFreq, &stepSlot, layer.kCache,
                layer.vCache, HEADS, KV_HEADS, HEAD_SIZE},
            cursor, a, ring, slot, partial);
        mark(a, e + 1);
        grid_sync(a.sync, target);
        mark(a, e + 2);
        attend(a, layer, table, smem);
        mark(a, e + 3);
        grid_sync(a.sync, target);
        mark(a, e + 4);
        project<O>(L2Input{a.attn}, PlainRows{a.delta, 0}, cursor, a, ring, slot, partial);
        mark(a, e + 5);
        load_norm_weight(layer.postNorm, norm);
        grid_sync(a.sync, target);
        mark(a, e + 6);
        norm_prologue(residual, a.delta, norm, next, a.eps, xs, scratch);
        mark(a, e + 7);
        residual = next;
        next = next == a.residual0 ? a.residual1 : a.residual0;
        project<GATE_UP>(SharedInput{xs}, PlainRows{a.gateUp, 0}, cursor, a, ring, slot, partial);
        mark(a, e + 8);
        grid_sync(a.sync, target);
        mark(a, e + 9);
        project<DOWN>(SiluL2Input{a.gateUp}, PlainRows{a.delta, 0}, cursor, a, ring, slot, partial);
        mark(a, e + 10);
        if (l + 1 < LAYERS)
        {
            load_norm_weight(a.layers[l + 1].inputNorm, norm);
            load_bias(a.layers[l + 1].qkvBias, bias);
        }
        else load_norm_weight(a.finalNorm, norm);
        grid_sync(a.sync, target);
        mark(a, e + 11);
        delta = a.delta;
    }
    norm_prologue(residual, delta, norm, next, a.eps, xs, scratch);
    project<LM_HEAD>(SharedInput{xs}, PlainRows{a.logits, 1}, cursor, a, ring, slot, partial);
    mark(a, LAYERS * LAYER_EVENTS);
    record(a, LAYERS * LAYER_EVENTS + 3, global_ns());
    cp_async_wait<0>();
}
