// decode_attention.cu's attention of one token's GQA group over one context split (its comment says how), shared with
// decode_step.cu's persistent one-token step: the group, the split and the split count are arguments, and sync() is
// the barrier of the 128 threads doing the work (the whole block there, a named barrier of part of one here).
#pragma once
#include "tensor_core.cuh"

#define ATT_WARPS 4
#define ATT_THREADS (ATT_WARPS * 32)
#define ATT_KEYS 16                   // keys per warp tile: one k-step of P V, two n-tiles of Q K^T
#define ATT_SPLIT_TILE (4 * ATT_KEYS) // splits share the context in whole tiles of this many keys (DecodeAttention.SplitTile)
#define ATT_SMEM_BYTES 49152
// decode_attention_deep's rings: 96 KB of dynamic shared memory (opt-in), RING 6 for head_dim 128 and 12 for 64, so a
// warp keeps 5 (11) tiles in flight instead of 2 (5)
#define ATT_DEEP_SMEM_BYTES 98304
#define LN2 0.6931471805599453f
// ATT_SWEEP_NO_MATH and ATT_SWEEP_NO_LOADS leave out the tensor-core work or the loads: builds for timing only (wrong
// results), tools/cuda-check's attention-sweep; ATT_SWEEP_TABLE_PER_TILE reads the block table as each tile is issued;
// ATT_SWEEP_EMPTY (decode_attention.cu) makes every launch wait and return, for timing whole steps without attention's work.
// The trigger (common.cuh's launch_next_grid): a split launch lets its successor (attention_combine) launch at entry,
// one split lets it (the o projection, whose blocks request their weights at once) launch only once q is loaded, so
// that those requests do not queue ahead of q's. Whole one-token steps at 128 positions, alternated twice on the H200
// (run 20): 1.5B 1.144-1.149 against 1.156-1.158 ms, 7B 3.627-3.630 against 3.647-3.649; at 1024 positions (32 splits)
// the 7B was 0.5% slower with the late trigger, so split launches keep the early one. decode_step.cu's grid never
// triggers (launch_next_grid only does for a grid x of 1).
__device__ __forceinline__ void launch_next_grid_when_split()
{
    if (gridDim.z > 1) launch_next_grid();
}

// ATT_TIMELINE (timing only, one split): lane 0 of each warp writes its SM clock at fixed points (0-8, then 11 and 12 at
// the output loop's first and second stores) into partialOut as
// unsigned long long [block (kvHead, split)][warp][16]; cuda-check's context-sweep prints them (the last layer's).
#ifdef ATT_TIMELINE
#define ATT_STAMP_SLOT(k) ((unsigned long long*)partialOut)[((blockIdx.y * gridDim.z + blockIdx.z) * WARPS + (threadIdx.x >> 5)) * 16 + (k)]
#define ATT_STAMP(k) do { if ((threadIdx.x & 31) == 0) ATT_STAMP_SLOT(k) = clock64(); } while (0)
#define ATT_STAMP_GLOBAL(k) do { if ((threadIdx.x & 31) == 0) ATT_STAMP_SLOT(k) = global_ns(); } while (0)
#else
#define ATT_STAMP(k) do { } while (0)
#define ATT_STAMP_GLOBAL(k) do { } while (0)
#endif

// The barrier of decode_attention.cu's blocks, which are all attention.
struct BlockSync
{
    __device__ __forceinline__ void operator()() const { __syncthreads(); }
};

// One warp copies the 16 K (or V) rows of its KV head into a swizzled [16][HEAD_DIM] buffer: chunk c (8 bf16) of
// row r goes to chunk c ^ (r & 7). Lane l holds the cache slot of row l % 16 (-1: past the split, zero-filled so a
// masked probability of 0 never meets stale shared memory); src is the cache plus the head's and this lane's column.
template <int HEAD_DIM>
__device__ __forceinline__ void load_tile(unsigned dst, const bf16* __restrict__ src, int slot, long long kvStride, int lane)
{
    constexpr int CHUNKS = HEAD_DIM / 8, ROWS = 32 / CHUNKS; // 16-byte chunks per row, rows per pass of the warp
    const int col = lane % CHUNKS;
#pragma unroll
    for (int i = 0; i < ATT_KEYS / ROWS; i++)
    {
        int row = i * ROWS + lane / CHUNKS;
        int s = __shfl_sync(0xffffffffu, slot, row);
        cp_async16(dst + row * (HEAD_DIM * 2) + ((col ^ (row & 7)) << 4), s >= 0 ? src + s * kvStride : src, s >= 0 ? 16 : 0);
    }
}

// EARLY (decode_attention_early): the kernel has not waited for its predecessor yet. Every key but the newest was
// written by earlier steps, so the warps request their first tiles first and wait only before a tile that holds
// position context - 1 (qkv_finish writes it just before) and before reading q. Only for tokens that are their
// sequence's one new token: the host's call.
template <int HEAD_DIM, int RING, bool EARLY, class Sync, int SMEM_BYTES = ATT_SMEM_BYTES, int WARPS = ATT_WARPS>
__device__ __forceinline__ void decode_attention_group(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    float* __restrict__ partialOut, float* __restrict__ partialMax, float* __restrict__ partialSum,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ table, int t, int context,
    int heads, int kvHeads, int blockSize, float scale, unsigned char* smem, int g, int split, int splits, Sync sync)
{
    constexpr int ROW_BYTES = HEAD_DIM * 2, TILE_BYTES = ATT_KEYS * ROW_BYTES;
    constexpr int DK = HEAD_DIM / 16; // k-steps of Q K^T
    constexpr int DN = HEAD_DIM / 8;  // n-tiles of O
    constexpr int OSTRIDE = HEAD_DIM + 8; // floats per row of the merge buffer (padded against bank conflicts)
    static_assert(WARPS * RING * TILE_BYTES <= SMEM_BYTES, "the rings must fit");
    static_assert(WARPS * 16 * (OSTRIDE + 2) * 4 <= SMEM_BYTES, "the merge buffers must fit");

    ATT_STAMP_GLOBAL(9);
    ATT_STAMP(0);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, group = lane >> 2, quad = lane & 3;
    const int G = heads / kvHeads, h0 = g * G;
    const int tilesPerSplit = ((context + ATT_SPLIT_TILE - 1) / ATT_SPLIT_TILE + splits - 1) / splits;
    const int begin = split * tilesPerSplit * ATT_SPLIT_TILE, end = min(context, begin + tilesPerSplit * ATT_SPLIT_TILE);
    const int blockTiles = (max(end - begin, 0) + ATT_KEYS - 1) / ATT_KEYS;
    const int count = blockTiles > warp ? (blockTiles - warp + WARPS - 1) / WARPS : 0; // this warp's tiles

    // Loads are numbered K(0), V(0), K(1), V(1), ... of this warp's tiles; load n goes to buffer n % RING and is one
    // commit group, so "all but the newest RING - 1 groups" means load n has landed when n + RING - 1 is issued.
    const unsigned ring = smem_address(smem) + warp * (RING * TILE_BYTES);
    const long long kvStride = (long long)kvHeads * HEAD_DIM;
    const bf16* kSrc = kCache + (long long)g * HEAD_DIM + (lane % (HEAD_DIM / 8)) * 8;
    const bf16* vSrc = vCache + (long long)g * HEAD_DIM + (lane % (HEAD_DIM / 8)) * 8;
    const int loads = 2 * count;
    int slot = -1; // of key lane % 16 of the tile being loaded; a K load sets it, the V load after it reuses it

    // Block-table entries, requested 32 tiles at a time: lane l holds the entry of this warp's tile base + l. Read as
    // each K tile is issued (ATT_SWEEP_TABLE_PER_TILE), an entry's round trip comes before the tile's requests, with the
    // warp's math waiting behind it; ahead, a 1.5B launch over 32768 positions took 15.1-15.2 us instead of 15.9-16.0
    // (run 18). Only where a tile lies in one cache block (blockSize a multiple of 16: tiles start at multiples of 16);
    // otherwise each lane reads its key's entry as the tile is issued.
#ifndef ATT_SWEEP_TABLE_PER_TILE
    const bool tileInBlock = blockSize % ATT_KEYS == 0;
#else
    const bool tileInBlock = false; // attention-sweep's build of the old way
#endif
    auto entries_from = [&](int firstTile)
    {
        const int tile = firstTile + lane;
        return tileInBlock && tile < count ? table[(begin + (warp + WARPS * tile) * ATT_KEYS) / blockSize] : 0;
    };
    int entries = entries_from(0), nextEntries = count > 32 ? entries_from(32) : 0;
    auto issue = [&](int load, int buffer)
    {
        if (load < loads)
        {
#ifndef ATT_SWEEP_NO_LOADS
            if ((load & 1) == 0)
            {
                const int tile = load >> 1, j = begin + (warp + WARPS * tile) * ATT_KEYS + (lane & (ATT_KEYS - 1));
                if (tileInBlock)
                {
                    if (tile > 0 && (tile & 31) == 0) // the next 32 entries, requested 32 tiles ago
                    {
                        entries = nextEntries;
                        nextEntries = count > tile + 32 ? entries_from(tile + 32) : 0;
                    }
                    const int entry = __shfl_sync(0xffffffffu, entries, tile & 31);
                    slot = j < end ? entry * blockSize + j % blockSize : -1;
                }
                else
                {
                    slot = j < end ? table[j / blockSize] * blockSize + j % blockSize : -1;
                }
            }
            load_tile<HEAD_DIM>(ring + buffer * TILE_BYTES, (load & 1) ? vSrc : kSrc, slot, kvStride, lane);
#endif
        }
        cp_async_commit(); // possibly empty, so that the group count stays one per load number
    };

    float o[DN][4];
#pragma unroll
    for (int n = 0; n < DN; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    const float scaleLog2 = scale * 1.4426950408889634f;

    // ldmatrix row addresses of this lane within a 16-row buffer; both row formulas keep lane & 7 as row & 7.
    const int kRow = (lane & 7) + ((lane >> 4) << 3), kHalf = (lane >> 3) & 1;
    const int vRow = (lane & 7) + (((lane >> 3) & 1) << 3), vHalf = lane >> 4;
    const int swizzle = lane & 7;

    // Q's A fragments (rows: the group's heads, zero past G) through the ring's last buffer, which the loop fills only
    // at its first issue: one 16-byte load a chunk from global, stored swizzled like a K tile, then ldmatrix in the
    // A-fragment order (row blocks 0-7 / 8-15, column halves, like V's addresses). Before, each lane's 32 4-byte loads
    // went straight into the fragments, every warp of every block asking L2 for the same scattered words; through shared
    // memory the 1.5B step over 16000 positions took 1.336-1.339 ms instead of 1.451-1.455, over 1024 1.199 instead of
    // 1.224, the 7B's 3.666 instead of 3.755 (run 19).
    unsigned qf[DK][4];
    auto load_q = [&]()
    {
        constexpr int CHUNKS = HEAD_DIM / 8, ROWS = 32 / CHUNKS;
        const int col = lane % CHUNKS;
        const bf16* q0 = q + (long long)t * qRowStride + (long long)h0 * HEAD_DIM + col * 8;
        unsigned char* qTile = smem + (warp * RING + RING - 1) * TILE_BYTES;
        uint4 chunks[ATT_KEYS / ROWS];
#pragma unroll
        for (int i = 0; i < ATT_KEYS / ROWS; i++)
        {
            const int row = i * ROWS + lane / CHUNKS;
            chunks[i] = row < G ? __ldcg((const uint4*)(q0 + row * HEAD_DIM)) : make_uint4(0u, 0u, 0u, 0u);
        }
#pragma unroll
        for (int i = 0; i < ATT_KEYS / ROWS; i++)
        {
            const int row = i * ROWS + lane / CHUNKS;
            *(uint4*)(qTile + row * ROW_BYTES + ((col ^ (row & 7)) << 4)) = chunks[i];
        }
        __syncwarp();
#pragma unroll
        for (int kk = 0; kk < DK; kk++) ldmatrix_x4(qf[kk], smem_address(qTile) + vRow * ROW_BYTES + (((2 * kk + vHalf) ^ swizzle) << 4));
        __syncwarp(); // every lane has its fragments before the loop's first issue refills the buffer
    };

    if (EARLY)
    {
        bool waited = false;
#pragma unroll
        for (int n = 0; n < RING - 1; n++)
        {
            const int first = begin + (warp + WARPS * (n >> 1)) * ATT_KEYS; // the keys of load n's tile
            if (!waited && n < loads && first <= context - 1 && context - 1 < first + ATT_KEYS)
            {
                wait_for_previous_grid();
                waited = true;
            }
            issue(n, n);
        }
        if (!waited) wait_for_previous_grid();
        ATT_STAMP(1);
    }
    else
    {
#pragma unroll
        for (int n = 0; n < RING - 1; n++) issue(n, n);
    }
    load_q(); // after the wait either way (the kernels that are not EARLY waited on entry)
    if (splits == 1) launch_next_grid(); // see launch_next_grid_when_split
    int readBuffer = 0, writeBuffer = RING - 1;
    for (int i = 0; i < count; i++)
    {
        // K(i): load 2i. Issue load 2i + RING - 1 into the buffer the previous step finished with.
        issue(2 * i + RING - 1, writeBuffer);
        writeBuffer = writeBuffer == RING - 1 ? 0 : writeBuffer + 1;
        cp_async_wait<RING - 1>();
        __syncwarp(); // every lane's part of K(i) is visible to the warp
        const unsigned kTile = ring + readBuffer * TILE_BYTES;
        readBuffer = readBuffer == RING - 1 ? 0 : readBuffer + 1;

        // S = Q K^T. B = K^T is col-major = K rows as stored: x4 matrices are (keys 0-7, d 16kk..), (keys 0-7,
        // d 16kk+8..), (keys 8-15, d 16kk..), (keys 8-15, d 16kk+8..) -> b0b1 of n-tile 0, b0b1 of n-tile 1.
        float s[2][4];
        s[0][0] = s[0][1] = s[0][2] = s[0][3] = s[1][0] = s[1][1] = s[1][2] = s[1][3] = 0.f;
#ifndef ATT_SWEEP_NO_MATH
#pragma unroll
        for (int kk = 0; kk < DK; kk++)
        {
            unsigned b[4];
            ldmatrix_x4(b, kTile + kRow * ROW_BYTES + (((2 * kk + kHalf) ^ swizzle) << 4));
            mma_bf16(s[0], qf[kk], b[0], b[1]);
            mma_bf16(s[1], qf[kk], b[2], b[3]);
        }
        __syncwarp(); // every lane is done reading K(i)'s buffer before the next issue refills it
        if (i == 0) ATT_STAMP(2);

        // Scale to log2 units and mask keys at or past the split's end (also the zero-filled ones).
        const int j = begin + (warp + WARPS * i) * ATT_KEYS + 2 * quad;
#pragma unroll
        for (int n = 0; n < 2; n++)
        {
#pragma unroll
            for (int e = 0; e < 2; e++)
            {
                bool valid = j + 8 * n + e < end;
                s[n][e] = valid ? s[n][e] * scaleLog2 : -INFINITY;
                s[n][2 + e] = valid ? s[n][2 + e] * scaleLog2 : -INFINITY;
            }
        }

        online_softmax_step(s, o, m0, m1, l0, l1);
#endif

        // V(i): load 2i + 1.
        issue(2 * i + RING, writeBuffer);
        writeBuffer = writeBuffer == RING - 1 ? 0 : writeBuffer + 1;
        cp_async_wait<RING - 1>();
        __syncwarp();
        const unsigned vTile = ring + readBuffer * TILE_BYTES;
        readBuffer = readBuffer == RING - 1 ? 0 : readBuffer + 1;

        // O += P V: keys 0-15 are S n-tiles 0 and 1, whose accumulators are exactly the A fragment. B = V (k = key,
        // n = d) is row-major in shared memory, hence .trans: x4 matrices are (keys 0-7, d 8n..), (keys 8-15, d 8n..),
        // (keys 0-7, d 8n+8..), (keys 8-15, d 8n+8..) -> b0b1 of n-tile n, b0b1 of n-tile n + 1.
#ifndef ATT_SWEEP_NO_MATH
        unsigned p[4];
        p[0] = pack_bf16(s[0][0], s[0][1]);
        p[1] = pack_bf16(s[0][2], s[0][3]);
        p[2] = pack_bf16(s[1][0], s[1][1]);
        p[3] = pack_bf16(s[1][2], s[1][3]);
#pragma unroll
        for (int n = 0; n < DN; n += 2)
        {
            unsigned b[4];
            ldmatrix_x4_trans(b, vTile + vRow * ROW_BYTES + (((n + vHalf) ^ swizzle) << 4));
            mma_bf16(o[n], p, b[0], b[1]);
            mma_bf16(o[n + 1], p, b[2], b[3]);
        }
#endif
        __syncwarp(); // every lane is done reading V(i)'s buffer
        if (i < 3) ATT_STAMP(3 + i);
    }

    // Merge the warps: each leaves its rows' m (log2 units), l and O in shared memory over the (now idle) rings.
    cp_async_wait<0>(); // only empty groups can be pending here; no copy may land in the merge buffers
    ATT_STAMP(6);
    sync();
    float* oShared = (float*)smem;                   // [WARPS * 16][OSTRIDE]
    float* mShared = oShared + WARPS * 16 * OSTRIDE; // [WARPS * 16]
    float* lShared = mShared + WARPS * 16;           // [WARPS * 16]
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const int r0 = warp * 16 + group, r1 = r0 + 8;
    if (group < G)
    {
#pragma unroll
        for (int n = 0; n < DN; n++) *(float2*)(oShared + r0 * OSTRIDE + n * 8 + 2 * quad) = make_float2(o[n][0], o[n][1]);
        if (quad == 0) { mShared[r0] = m0; lShared[r0] = l0; }
    }
    if (group + 8 < G)
    {
#pragma unroll
        for (int n = 0; n < DN; n++) *(float2*)(oShared + r1 * OSTRIDE + n * 8 + 2 * quad) = make_float2(o[n][2], o[n][3]);
        if (quad == 0) { mShared[r1] = m1; lShared[r1] = l1; }
    }
    sync();
    ATT_STAMP(7);

    for (int i = threadIdx.x; i < G * (HEAD_DIM / 2); i += (WARPS * 32))
    {
        const int r = i / (HEAD_DIM / 2), d = 2 * (i % (HEAD_DIM / 2));
        float best = -INFINITY;
#pragma unroll
        for (int w = 0; w < WARPS; w++) best = fmaxf(best, mShared[w * 16 + r]);
        float ox = 0.f, oy = 0.f, l = 0.f;
#pragma unroll
        for (int w = 0; w < WARPS; w++)
        {
            float mw = mShared[w * 16 + r];
            float weight = mw == -INFINITY ? 0.f : exp2f(mw - best); // a warp without keys counts for nothing
            float2 v = *(const float2*)(oShared + (w * 16 + r) * OSTRIDE + d);
            ox += weight * v.x;
            oy += weight * v.y;
            l += weight * lShared[w * 16 + r];
        }
        const long long row = (long long)t * heads + h0 + r;
        if (splits == 1)
        {
            float inverse = 1.f / l;
            *(__nv_bfloat162*)(out + row * HEAD_DIM + d) = __floats2bfloat162_rn(ox * inverse, oy * inverse);
#ifdef ATT_TIMELINE
            if (i == threadIdx.x) ATT_STAMP(11);
            else if (i == threadIdx.x + WARPS * 32) ATT_STAMP(12);
#endif
        }
        else
        {
            const long long part = row * splits + split;
            *(float2*)(partialOut + part * HEAD_DIM + d) = make_float2(ox, oy);
            if (d == 0)
            {
                partialMax[part] = best * LN2; // -inf stays -inf: an empty split weighs 0 in attention_combine
                partialSum[part] = l;
            }
        }
    }
    ATT_STAMP(8);
    ATT_STAMP_GLOBAL(10);
}

