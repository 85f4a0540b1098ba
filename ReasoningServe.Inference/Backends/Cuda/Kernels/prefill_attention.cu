// Causal grouped-query attention for prefill on tensor cores (FlashAttention-2 style), same semantics as
// paged_attention.cu:
//   s_j = (q_h . k_{g,j}) / sqrt(d) for j < ctx[t];  o_h = sum_j softmax(s)_j v_{g,j};  g = h / (heads / kvHeads)
// Context position j lives in slot blockTable[j / blockSize] * blockSize + j % blockSize; the new tokens' K/V are
// already in the cache. A query tile is up to 64 consecutive tokens of one sequence (tileFirst/tileCount, built by the
// host); tiles are taken latest-first (a later tile of a sequence sees more keys) to shorten the tail. Both kernels
// have 4 warps, warp w owning the tile's tokens 16w..16w+15, and walk the keys in tiles of 64 gathered from the paged
// cache into shared memory with cp.async: S = Q K^T (mma m16n8k16, bf16 in, fp32 out), per-row mask j < ctx[row],
// online softmax (running max m and sum l per row, O rescaled by 2^(m_old - m_new); scores are kept in log2 units so
// exp is one ex2), then O += P V with P converted from the S accumulators to bf16 A fragments directly, because the
// m16n8 accumulator layout is the m16n8k16 A layout. S/P, O, m, l never leave registers. Rows of a partial tile are
// computed on zeros and not written; a warp skips key tiles none of its rows can see. head_dim 64 or 128 (templated;
// the host refuses others); cache rows 16-byte aligned.
//
// prefill_attention: one block per (tile, head), Q A fragments in registers (q's row stride must be even). One K and
// one V buffer: V(i) is fetched while S(i) is computed and K(i+1) while P V(i) is, four barriers per key tile. Shared
// rows are padded by 8 bf16 so the 8 rows an ldmatrix phase reads fall in distinct banks. grid: (heads, tiles), so
// that all heads of a tile, which share K/V through L2, run together. block: 128. smem: 35 KB static.
//
// prefill_attention_pipelined: one block per (tile, pair of query heads of one KV group). Each K/V tile gathered feeds
// 128 query rows instead of 64, and each warp holds two M tiles (its 16 tokens under both heads, which see the same
// keys under the same mask), so every K or V fragment read from shared memory feeds two MMAs instead of one: half the
// shared-memory reads per MMA that bound the single-head kernel, and half the cache bytes per flop through L2. A
// group's odd last head takes a block of its own (one M tile a warp). Q does not fit the registers next to two heads'
// O, so it is staged in shared memory once (cp.async) and read with ldmatrix per k-step; and the softmax runs in steps
// of SUB_K = 32 keys, two per key tile, because two heads' S of 64 keys next to their O made ptxas spill (255
// registers; with 32 it needs about 235). P is still rounded to bf16 from the S accumulators, only against the running
// max of 32 keys instead of 64, so the output equals prefill_attention's up to bf16 rounding, not bit for bit.
// The key tiles stream through a ring of PIPE_STAGES (K, V) buffers: tile i + PIPE_STAGES - 1 is requested right after
// the barrier that opens tile i, so its loads have the whole of tile i's work (and the other block of the SM) to land,
// and that one barrier per tile also tells the loads that every warp is done with the buffer they refill. The slot
// lists of the tiles (a division and a block-table read per key) are computed a ring turn ahead by 64 threads, which
// read the table before the tile's math and store the slots after it. Buffers (and Q) are XOR-swizzled per 16-byte
// chunk (chunk c of row r at c ^ (r & 7)) instead of padded: the 8 rows an ldmatrix phase reads fall in distinct banks
// and the layout stays a power of two. q's row stride must be a multiple of 8 and q 16-byte aligned (rows are copied
// in 16-byte chunks). grid: (kvHeads * ceil(G / 2), tiles) with G = heads / kvHeads, a group's pairs adjacent, so that
// all heads of a tile run together. block: 128, two blocks an SM (registers). smem: PIPE_SMEM_BYTES_PER_DIM * head_dim
// dynamic (96 KB at 128: two heads' Q, 32 KB, and two stages of K and V, 64 KB; the host opts in), 0.5 KB static.
#include "tensor_core.cuh"

#define TILE_K 64
#define THREADS 128
#define PAD 8
#define MAX_HEAD_DIM 128
// prefill_attention_pipelined: query heads a block takes, (K, V) buffers of its ring, and its dynamic shared memory per
// element of head_dim: (PIPE_HEADS Q tiles + PIPE_STAGES * (K + V) tiles) x 64 rows x 2 bytes (Ops.PrefillAttention)
#define PIPE_HEADS 2
#define PIPE_STAGES 2
#define PIPE_SMEM_BYTES_PER_DIM 768
#define SUB_K 32 // keys per softmax step

// Slot of each key j0..j0+63 of the sequence, -1 past the context. Done once per key tile by 64 threads (it costs
// a division) and shared by the K and V gathers.
__device__ __forceinline__ void key_slots(int* slots, const int* __restrict__ table, int j0, int kvLen, int blockSize)
{
    int j = j0 + threadIdx.x;
    if (threadIdx.x < TILE_K) slots[threadIdx.x] = j < kvLen ? table[j / blockSize] * blockSize + j % blockSize : -1;
}

// Gathers the 64 keys of kv head g into tile[64][HEAD_DIM + PAD]; keys past the context become zeros so that masked
// probabilities (0) never meet stale shared memory (0 * NaN).
template <int HEAD_DIM>
__device__ __forceinline__ void load_kv_tile(bf16* tile, const bf16* __restrict__ cache, const int* slots, int kvStride, int g)
{
    constexpr int CHUNKS = HEAD_DIM / 8; // 16-byte chunks per key row
#pragma unroll
    for (int i = 0; i < TILE_K * CHUNKS / THREADS; i++)
    {
        int c = threadIdx.x + i * THREADS;
        int key = c / CHUNKS, col = (c % CHUNKS) * 8;
        int slot = slots[key];
        const bf16* src = slot >= 0 ? cache + (long long)slot * kvStride + (long long)g * HEAD_DIM + col : cache;
        cp_async16(smem_address(tile + key * (HEAD_DIM + PAD) + col), src, slot >= 0 ? 16 : 0);
    }
}

template <int HEAD_DIM>
__device__ __forceinline__ void prefill_attention_tile(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
    const int* __restrict__ tokenSeq, const int* __restrict__ tokenContext, int first, int count, int h, int heads,
    int kvHeads, int blockSize, float scale, bf16* ks, bf16* vs, int (*slots)[TILE_K], int* warpMax)
{
    constexpr int STRIDE = HEAD_DIM + PAD;
    constexpr int DK = HEAD_DIM / 16; // k-steps of Q K^T
    constexpr int DN = HEAD_DIM / 8;  // n-tiles of O
    constexpr int KN = TILE_K / 8;    // n-tiles of S

    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int group = lane >> 2, quad = lane & 3;
    int g = h / (heads / kvHeads);
    int kvStride = kvHeads * HEAD_DIM;
    const int* table = blockTables + (long long)tokenSeq[first] * maxBlocks;

    // This thread's two rows: r0 = 16 warp + group and r1 = r0 + 8; rows past count see nothing (ctx 0).
    int r0 = warp * 16 + group, r1 = r0 + 8;
    bool valid0 = r0 < count, valid1 = r1 < count;
    int ctx0 = valid0 ? tokenContext[first + r0] : 0;
    int ctx1 = valid1 ? tokenContext[first + r1] : 0;
    int warpCtxMax = __reduce_max_sync(0xffffffffu, max(ctx0, ctx1));
    int warpCtxMin = __reduce_min_sync(0xffffffffu, min(ctx0, ctx1));
    if (lane == 0) warpMax[warp] = warpCtxMax;

    // Q A fragments straight from global (read once per block, so no staging).
    unsigned qf[DK][4];
    {
        const bf16* q0 = q + (long long)(first + r0) * qRowStride + (long long)h * HEAD_DIM + 2 * quad;
        const bf16* q1 = q + (long long)(first + r1) * qRowStride + (long long)h * HEAD_DIM + 2 * quad;
#pragma unroll
        for (int kk = 0; kk < DK; kk++)
        {
            qf[kk][0] = valid0 ? *(const unsigned*)(q0 + kk * 16) : 0u;
            qf[kk][1] = valid1 ? *(const unsigned*)(q1 + kk * 16) : 0u;
            qf[kk][2] = valid0 ? *(const unsigned*)(q0 + kk * 16 + 8) : 0u;
            qf[kk][3] = valid1 ? *(const unsigned*)(q1 + kk * 16 + 8) : 0u;
        }
    }
    __syncthreads();
    int kvLen = max(max(warpMax[0], warpMax[1]), max(warpMax[2], warpMax[3]));

    float o[DN][4];
#pragma unroll
    for (int n = 0; n < DN; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    float scaleLog2 = scale * 1.4426950408889634f;

    // ldmatrix row addresses of this lane within a 16 x 16 sub-tile (see the fragment maps below).
    int kRow = (lane & 7) + ((lane >> 4) << 3), kCol = ((lane >> 3) & 1) << 3;
    int vRow = (lane & 7) + (((lane >> 3) & 1) << 3), vCol = (lane >> 4) << 3;

    key_slots(slots[0], table, 0, kvLen, blockSize);
    __syncthreads();
    load_kv_tile<HEAD_DIM>(ks, kCache, slots[0], kvStride, g);
    cp_async_commit();
    for (int j0 = 0, buf = 0; j0 < kvLen; j0 += TILE_K, buf ^= 1)
    {
        load_kv_tile<HEAD_DIM>(vs, vCache, slots[buf], kvStride, g);
        cp_async_commit();
        // The other buffer was last read before the previous tile's final barrier; it is read after the next one.
        key_slots(slots[buf ^ 1], table, j0 + TILE_K, kvLen, blockSize);
        cp_async_wait<1>(); // K(j0) has landed, V(j0) may still fly
        __syncthreads();

        bool active = j0 < warpCtxMax;
        float s[KN][4];
        if (active)
        {
#pragma unroll
            for (int n = 0; n < KN; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
            // S = Q K^T. B = K^T is col-major = K rows as stored: x4 matrices are (keys 8n.., d 16kk..),
            // (keys 8n.., d 16kk+8..), (keys 8n+8.., d 16kk..), (keys 8n+8.., d 16kk+8..) -> b0b1, b2b3 of n-tiles n, n+1.
#pragma unroll
            for (int kk = 0; kk < DK; kk++)
            {
#pragma unroll
                for (int n = 0; n < KN; n += 2)
                {
                    unsigned b[4];
                    ldmatrix_x4(b, smem_address(ks + (n * 8 + kRow) * STRIDE + kk * 16 + kCol));
                    mma_bf16(s[n], qf[kk], b[0], b[1]);
                    mma_bf16(s[n + 1], qf[kk], b[2], b[3]);
                }
            }

            // Scale to log2 units and mask keys at or past each row's context (also the zero-filled ones).
            bool needMask = j0 + TILE_K > warpCtxMin;
#pragma unroll
            for (int n = 0; n < KN; n++)
            {
                int j = j0 + n * 8 + 2 * quad;
                s[n][0] = needMask && j >= ctx0 ? -INFINITY : s[n][0] * scaleLog2;
                s[n][1] = needMask && j + 1 >= ctx0 ? -INFINITY : s[n][1] * scaleLog2;
                s[n][2] = needMask && j >= ctx1 ? -INFINITY : s[n][2] * scaleLog2;
                s[n][3] = needMask && j + 1 >= ctx1 ? -INFINITY : s[n][3] * scaleLog2;
            }

            online_softmax_step(s, o, m0, m1, l0, l1);
        }
        __syncthreads(); // every warp is done with K(j0)

        if (j0 + TILE_K < kvLen) load_kv_tile<HEAD_DIM>(ks, kCache, slots[buf ^ 1], kvStride, g);
        cp_async_commit(); // possibly empty: keeps "all but newest" meaning V(j0) below
        cp_async_wait<1>();
        __syncthreads();

        if (active)
        {
            // O += P V. Keys 16kk..16kk+15 are S n-tiles 2kk, 2kk+1, whose accumulators are exactly the A fragment.
            // B = V (k = key, n = d) is row-major in shared memory, hence .trans: x4 matrices are (keys 16kk.., d 8n..),
            // (keys 16kk+8.., d 8n..), (keys 16kk.., d 8n+8..), (keys 16kk+8.., d 8n+8..) -> b0b1, b2b3 of n, n+1.
#pragma unroll
            for (int kk = 0; kk < TILE_K / 16; kk++)
            {
                unsigned p[4];
                p[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
                p[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
                p[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
                p[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
                for (int n = 0; n < DN; n += 2)
                {
                    unsigned b[4];
                    ldmatrix_x4_trans(b, smem_address(vs + (kk * 16 + vRow) * STRIDE + n * 8 + vCol));
                    mma_bf16(o[n], p, b[0], b[1]);
                    mma_bf16(o[n + 1], p, b[2], b[3]);
                }
            }
        }
        __syncthreads(); // every warp is done with V(j0) before the next tile overwrites it
    }

    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    float inverse0 = valid0 ? 1.f / l0 : 0.f, inverse1 = valid1 ? 1.f / l1 : 0.f;
    long long rowStride = (long long)heads * HEAD_DIM;
    bf16* o0 = out + (long long)(first + r0) * rowStride + (long long)h * HEAD_DIM + 2 * quad;
    bf16* o1 = out + (long long)(first + r1) * rowStride + (long long)h * HEAD_DIM + 2 * quad;
#pragma unroll
    for (int n = 0; n < DN; n++)
    {
        if (valid0) *(__nv_bfloat162*)(o0 + n * 8) = __floats2bfloat162_rn(o[n][0] * inverse0, o[n][1] * inverse0);
        if (valid1) *(__nv_bfloat162*)(o1 + n * 8) = __floats2bfloat162_rn(o[n][2] * inverse1, o[n][3] * inverse1);
    }
}

extern "C" __global__ void __launch_bounds__(THREADS) prefill_attention(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
    const int* __restrict__ tokenSeq, const int* __restrict__ tokenContext, const int* __restrict__ tileFirst,
    const int* __restrict__ tileCount, int heads, int kvHeads, int headDim, int blockSize, float scale)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ __align__(16) bf16 ks[TILE_K * (MAX_HEAD_DIM + PAD)];
    __shared__ __align__(16) bf16 vs[TILE_K * (MAX_HEAD_DIM + PAD)];
    __shared__ int slots[2][TILE_K];
    __shared__ int warpMax[THREADS / 32];

    int tile = gridDim.y - 1 - blockIdx.y, h = blockIdx.x;
    int first = tileFirst[tile], count = tileCount[tile];
    if (headDim == 128)
        prefill_attention_tile<128>(q, qRowStride, out, kCache, vCache, blockTables, maxBlocks, tokenSeq, tokenContext, first, count,
            h, heads, kvHeads, blockSize, scale, ks, vs, slots, warpMax);
    else if (headDim == 64)
        prefill_attention_tile<64>(q, qRowStride, out, kCache, vCache, blockTables, maxBlocks, tokenSeq, tokenContext, first, count,
            h, heads, kvHeads, blockSize, scale, ks, vs, slots, warpMax);
}

// Copies 64 rows of HEAD_DIM bf16, row r from base + index(r) * stride, into a swizzled [64][HEAD_DIM] buffer at shared
// address dst: chunk c (8 bf16) of row r goes to chunk c ^ (r & 7). index(r) < 0 makes a row of zeros (keys past the
// context, so that a masked probability of 0 never meets stale shared memory as 0 * NaN; query rows past the tile).
// A thread copies the same chunk of rows THREADS / CHUNKS apart, a multiple of 8: one swizzled column for all of them.
template <int HEAD_DIM, class Index>
__device__ __forceinline__ void load_rows_swizzled(unsigned dst, const bf16* __restrict__ base, long long stride, Index index)
{
    constexpr int CHUNKS = HEAD_DIM / 8, ROWS = THREADS / CHUNKS; // 16-byte chunks per row, rows per pass
    static_assert(ROWS % 8 == 0, "a thread's rows share their swizzle");
    const int row0 = threadIdx.x / CHUNKS, chunk = threadIdx.x % CHUNKS;
    dst += row0 * (HEAD_DIM * 2) + ((chunk ^ (row0 & 7)) << 4);
    base += chunk * 8;
#pragma unroll
    for (int i = 0; i < TILE_K / ROWS; i++)
    {
        const int r = index(row0 + i * ROWS);
        cp_async16(dst + i * ROWS * (HEAD_DIM * 2), base + max(r, 0) * stride, r >= 0 ? 16 : 0);
    }
}

// Slot of key j of the sequence, -1 at or past kvLen.
__device__ __forceinline__ int key_slot(const int* __restrict__ table, int j, int kvLen, int blockSize)
{
    return j < kvLen ? table[j / blockSize] * blockSize + j % blockSize : -1;
}

// One block's tile for HEADS (2, or 1 for a group's odd last head) query heads h0.. of KV head g.
template <int HEAD_DIM, int HEADS>
__device__ __forceinline__ void prefill_pipelined_tile(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ table,
    const int* __restrict__ tokenContext, int first, int count, int h0, int g, int heads, int kvHeads, int blockSize,
    float scale, unsigned char* smem, int (*slots)[TILE_K], int* warpMax)
{
    constexpr int ROW_BYTES = HEAD_DIM * 2, TILE_BYTES = TILE_K * ROW_BYTES; // a K, V or one head's Q tile
    constexpr int DK = HEAD_DIM / 16; // k-steps of Q K^T
    constexpr int DN = HEAD_DIM / 8;  // n-tiles of O
    constexpr int SN = SUB_K / 8;     // n-tiles of S
    static_assert((PIPE_HEADS + 2 * PIPE_STAGES) * TILE_BYTES == PIPE_SMEM_BYTES_PER_DIM * HEAD_DIM, "the host sizes the shared memory");
    static_assert(PIPE_STAGES >= 2, "the ring's wait keeps PIPE_STAGES - 2 tiles in flight");

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, group = lane >> 2, quad = lane & 3;
    const long long kvStride = (long long)kvHeads * HEAD_DIM;
    const unsigned qTiles = smem_address(smem);                 // [PIPE_HEADS][64][HEAD_DIM]
    const unsigned ring = qTiles + PIPE_HEADS * TILE_BYTES;     // stage s: K at ring + 2s TILE_BYTES, V right after

    // This thread's two rows (tokens): r0 = 16 warp + group and r1 = r0 + 8, the same under both heads; rows past
    // count see nothing (ctx 0).
    const int r0 = warp * 16 + group, r1 = r0 + 8;
    const bool valid0 = r0 < count, valid1 = r1 < count;
    const int ctx0 = valid0 ? tokenContext[first + r0] : 0;
    const int ctx1 = valid1 ? tokenContext[first + r1] : 0;
    const int warpCtxMax = __reduce_max_sync(0xffffffffu, max(ctx0, ctx1));
    const int warpCtxMin = __reduce_min_sync(0xffffffffu, min(ctx0, ctx1));
    if (lane == 0) warpMax[warp] = warpCtxMax;

    // Q of the block's heads, joined to the first key tile's commit group below.
#pragma unroll
    for (int hq = 0; hq < HEADS; hq++)
    {
        load_rows_swizzled<HEAD_DIM>(qTiles + hq * TILE_BYTES, q + (long long)(h0 + hq) * HEAD_DIM, qRowStride,
            [&](int r) { return r < count ? first + r : -1; });
    }
    __syncthreads();
    const int kvLen = max(max(warpMax[0], warpMax[1]), max(warpMax[2], warpMax[3]));
    const int tiles = (kvLen + TILE_K - 1) / TILE_K;

    // Tile t's slots live in slots[t % PIPE_STAGES], written a barrier before the loads that read them.
    for (int i = threadIdx.x; i < PIPE_STAGES * TILE_K; i += THREADS) slots[i / TILE_K][i % TILE_K] = key_slot(table, i, kvLen, blockSize);
    __syncthreads();
    const bf16* kHead = kCache + (long long)g * HEAD_DIM;
    const bf16* vHead = vCache + (long long)g * HEAD_DIM;
    auto issue = [&](int t)
    {
        if (t < tiles)
        {
            const int* tileSlots = slots[t % PIPE_STAGES];
            const unsigned kTile = ring + (t % PIPE_STAGES) * 2 * TILE_BYTES;
            load_rows_swizzled<HEAD_DIM>(kTile, kHead, kvStride, [&](int r) { return tileSlots[r]; });
            load_rows_swizzled<HEAD_DIM>(kTile + TILE_BYTES, vHead, kvStride, [&](int r) { return tileSlots[r]; });
        }
        cp_async_commit(); // possibly empty: one group per tile number keeps the ring's wait count right
    };
#pragma unroll
    for (int t = 0; t < PIPE_STAGES - 1; t++) issue(t);

    float o[HEADS][DN][4];
#pragma unroll
    for (int hq = 0; hq < HEADS; hq++)
#pragma unroll
        for (int n = 0; n < DN; n++) o[hq][n][0] = o[hq][n][1] = o[hq][n][2] = o[hq][n][3] = 0.f;
    float m[HEADS][2], l[HEADS][2];
#pragma unroll
    for (int hq = 0; hq < HEADS; hq++)
    {
        m[hq][0] = m[hq][1] = -INFINITY;
        l[hq][0] = l[hq][1] = 0.f;
    }
    const float scaleLog2 = scale * 1.4426950408889634f;

    // ldmatrix row addresses of this lane within a 16-row sub-tile (the fragment maps are at the loops); every row
    // formula keeps lane & 7 as row & 7, the swizzle.
    const int aRow = (lane & 7) + (((lane >> 3) & 1) << 3), aHalf = lane >> 4; // Q (A) and V (B, .trans)
    const int kRow = (lane & 7) + ((lane >> 4) << 3), kHalf = (lane >> 3) & 1;  // K (B)
    const int swizzle = lane & 7;
    const unsigned qRows = qTiles + (warp * 16 + aRow) * ROW_BYTES;

    for (int i = 0; i < tiles; i++)
    {
        cp_async_wait<PIPE_STAGES - 2>(); // this thread's part of tile i (and of Q) has landed
        // Everyone's part has; every warp is done with tile i - 1, whose buffer the next issue refills; the slots of
        // tile i + PIPE_STAGES - 1 are written.
        __syncthreads();
        issue(i + PIPE_STAGES - 1);
        // Tile i + PIPE_STAGES's slots, into tile i's list (read by its issue, before this barrier): read the table
        // now, store after the math.
        const int nextSlot = threadIdx.x < TILE_K ? key_slot(table, (i + PIPE_STAGES) * TILE_K + threadIdx.x, kvLen, blockSize) : -1;

        // The tile in two steps of SUB_K keys: two heads' S of 64 keys next to their O would not fit the registers.
        const unsigned kTile = ring + (i % PIPE_STAGES) * 2 * TILE_BYTES, vTile = kTile + TILE_BYTES;
#pragma unroll 1
        for (int sub = 0; sub < TILE_K / SUB_K; sub++)
        {
            const int j0 = i * TILE_K + sub * SUB_K;
            if (j0 >= warpCtxMax) break;
            const unsigned kSub = kTile + sub * SUB_K * ROW_BYTES, vSub = vTile + sub * SUB_K * ROW_BYTES;
            float s[HEADS][SN][4];
#pragma unroll
            for (int hq = 0; hq < HEADS; hq++)
#pragma unroll
                for (int n = 0; n < SN; n++) s[hq][n][0] = s[hq][n][1] = s[hq][n][2] = s[hq][n][3] = 0.f;
            // S = Q K^T. A = Q rows as stored: x4 matrices are (rows 0-7, d 16kk..), (rows 8-15, d 16kk..),
            // (rows 0-7, d 16kk+8..), (rows 8-15, d 16kk+8..) -> a0a1, a2a3, a4a5, a6a7. B = K^T is col-major = K rows
            // as stored: (keys 8n.., d 16kk..), (keys 8n.., d 16kk+8..), (keys 8n+8.., d 16kk..),
            // (keys 8n+8.., d 16kk+8..) -> b0b1, b2b3 of n-tiles n, n+1, each used by both heads.
#pragma unroll
            for (int kk = 0; kk < DK; kk++)
            {
                unsigned a[HEADS][4];
#pragma unroll
                for (int hq = 0; hq < HEADS; hq++) ldmatrix_x4(a[hq], qRows + hq * TILE_BYTES + (((2 * kk + aHalf) ^ swizzle) << 4));
#pragma unroll
                for (int n = 0; n < SN; n += 2)
                {
                    unsigned b[4];
                    ldmatrix_x4(b, kSub + (n * 8 + kRow) * ROW_BYTES + (((2 * kk + kHalf) ^ swizzle) << 4));
#pragma unroll
                    for (int hq = 0; hq < HEADS; hq++)
                    {
                        mma_bf16(s[hq][n], a[hq], b[0], b[1]);
                        mma_bf16(s[hq][n + 1], a[hq], b[2], b[3]);
                    }
                }
            }

            // Scale to log2 units and mask keys at or past each row's context (also the zero-filled ones).
            const bool needMask = j0 + SUB_K > warpCtxMin;
#pragma unroll
            for (int hq = 0; hq < HEADS; hq++)
            {
#pragma unroll
                for (int n = 0; n < SN; n++)
                {
                    int j = j0 + n * 8 + 2 * quad;
                    s[hq][n][0] = needMask && j >= ctx0 ? -INFINITY : s[hq][n][0] * scaleLog2;
                    s[hq][n][1] = needMask && j + 1 >= ctx0 ? -INFINITY : s[hq][n][1] * scaleLog2;
                    s[hq][n][2] = needMask && j >= ctx1 ? -INFINITY : s[hq][n][2] * scaleLog2;
                    s[hq][n][3] = needMask && j + 1 >= ctx1 ? -INFINITY : s[hq][n][3] * scaleLog2;
                }
                online_softmax_step(s[hq], o[hq], m[hq][0], m[hq][1], l[hq][0], l[hq][1]);
            }

            // O += P V. Keys 16kk..16kk+15 are S n-tiles 2kk, 2kk+1, whose accumulators are exactly the A fragment.
            // B = V (k = key, n = d) is row-major in shared memory, hence .trans: x4 matrices are (keys 16kk.., d 8n..),
            // (keys 16kk+8.., d 8n..), (keys 16kk.., d 8n+8..), (keys 16kk+8.., d 8n+8..) -> b0b1, b2b3 of n, n+1.
#pragma unroll
            for (int kk = 0; kk < SUB_K / 16; kk++)
            {
                unsigned p[HEADS][4];
#pragma unroll
                for (int hq = 0; hq < HEADS; hq++)
                {
                    p[hq][0] = pack_bf16(s[hq][2 * kk][0], s[hq][2 * kk][1]);
                    p[hq][1] = pack_bf16(s[hq][2 * kk][2], s[hq][2 * kk][3]);
                    p[hq][2] = pack_bf16(s[hq][2 * kk + 1][0], s[hq][2 * kk + 1][1]);
                    p[hq][3] = pack_bf16(s[hq][2 * kk + 1][2], s[hq][2 * kk + 1][3]);
                }
#pragma unroll
                for (int n = 0; n < DN; n += 2)
                {
                    unsigned b[4];
                    ldmatrix_x4_trans(b, vSub + (kk * 16 + aRow) * ROW_BYTES + (((n + aHalf) ^ swizzle) << 4));
#pragma unroll
                    for (int hq = 0; hq < HEADS; hq++)
                    {
                        mma_bf16(o[hq][n], p[hq], b[0], b[1]);
                        mma_bf16(o[hq][n + 1], p[hq], b[2], b[3]);
                    }
                }
            }
        }
        if (threadIdx.x < TILE_K) slots[i % PIPE_STAGES][threadIdx.x] = nextSlot;
    }

    const long long rowStride = (long long)heads * HEAD_DIM;
#pragma unroll
    for (int hq = 0; hq < HEADS; hq++)
    {
        float l0 = l[hq][0], l1 = l[hq][1];
        l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
        l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
        l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
        l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
        const float inverse0 = valid0 ? 1.f / l0 : 0.f, inverse1 = valid1 ? 1.f / l1 : 0.f;
        bf16* o0 = out + (long long)(first + r0) * rowStride + (long long)(h0 + hq) * HEAD_DIM + 2 * quad;
        bf16* o1 = out + (long long)(first + r1) * rowStride + (long long)(h0 + hq) * HEAD_DIM + 2 * quad;
#pragma unroll
        for (int n = 0; n < DN; n++)
        {
            if (valid0) *(__nv_bfloat162*)(o0 + n * 8) = __floats2bfloat162_rn(o[hq][n][0] * inverse0, o[hq][n][1] * inverse0);
            if (valid1) *(__nv_bfloat162*)(o1 + n * 8) = __floats2bfloat162_rn(o[hq][n][2] * inverse1, o[hq][n][3] * inverse1);
        }
    }
}

extern "C" __global__ void __launch_bounds__(THREADS, 2) prefill_attention_pipelined(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
    const int* __restrict__ tokenSeq, const int* __restrict__ tokenContext, const int* __restrict__ tileFirst,
    const int* __restrict__ tileCount, int heads, int kvHeads, int headDim, int blockSize, float scale)
{
    launch_next_grid();
    wait_for_previous_grid();
    extern __shared__ __align__(128) unsigned char pipelinedSmem[];
    __shared__ int slots[PIPE_STAGES][TILE_K];
    __shared__ int warpMax[THREADS / 32];

    const int tile = gridDim.y - 1 - blockIdx.y;
    const int first = tileFirst[tile], count = tileCount[tile];
    const int G = heads / kvHeads, pairs = (G + PIPE_HEADS - 1) / PIPE_HEADS;
    const int g = blockIdx.x / pairs, h0 = g * G + (blockIdx.x % pairs) * PIPE_HEADS;
    const bool pair = h0 + 1 < (g + 1) * G;
    const int* table = blockTables + (long long)tokenSeq[first] * maxBlocks;
    if (headDim == 128)
    {
        if (pair)
            prefill_pipelined_tile<128, 2>(q, qRowStride, out, kCache, vCache, table, tokenContext, first, count, h0, g, heads, kvHeads,
                blockSize, scale, pipelinedSmem, slots, warpMax);
        else
            prefill_pipelined_tile<128, 1>(q, qRowStride, out, kCache, vCache, table, tokenContext, first, count, h0, g, heads, kvHeads,
                blockSize, scale, pipelinedSmem, slots, warpMax);
    }
    else if (headDim == 64)
    {
        if (pair)
            prefill_pipelined_tile<64, 2>(q, qRowStride, out, kCache, vCache, table, tokenContext, first, count, h0, g, heads, kvHeads,
                blockSize, scale, pipelinedSmem, slots, warpMax);
        else
            prefill_pipelined_tile<64, 1>(q, qRowStride, out, kCache, vCache, table, tokenContext, first, count, h0, g, heads, kvHeads,
                blockSize, scale, pipelinedSmem, slots, warpMax);
    }
}
