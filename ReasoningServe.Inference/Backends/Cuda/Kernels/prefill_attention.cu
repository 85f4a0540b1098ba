// Causal grouped-query attention for prefill on tensor cores (FlashAttention-2 style), same semantics as
// paged_attention.cu:
//   s_j = (q_h . k_{g,j}) / sqrt(d) for j < ctx[t];  o_h = sum_j softmax(s)_j v_{g,j};  g = h / (heads / kvHeads)
// Context position j lives in slot blockTable[j / blockSize] * blockSize + j % blockSize; the new tokens' K/V are
// already in the cache.
// A query tile is up to 64 consecutive tokens of one sequence (tileFirst/tileCount, built by the host). One block of
// 4 warps per (tile, head); warp w owns query rows 16w..16w+15 of the tile. For each tile of 64 keys, gathered from the
// paged cache into shared memory with cp.async: S = Q K^T (mma m16n8k16, bf16 in, fp32 out), per-row mask
// j < ctx[row], online softmax (running max m and sum l per row, O rescaled by 2^(m_old - m_new); scores are kept
// in log2 units so exp is one ex2), then O += P V with P converted from the S accumulators to bf16 A fragments
// directly, because the m16n8 accumulator layout is the m16n8k16 A layout. Q, S/P, O, m, l never leave registers.
// V(i) is fetched while S(i) is computed and K(i+1) while P V(i) is: one buffer each is enough for that overlap.
// Shared rows are padded by 8 bf16 (16 bytes) so the 8 rows an ldmatrix phase reads fall in distinct banks.
// Rows of a partial tile are computed on zeros and not written; a warp skips key tiles none of its rows can see.
// head_dim 64 or 128 (templated; the host refuses others). q's row stride must be even, cache rows 16-byte aligned.
// grid: (heads, tiles) so that all heads of a tile, which share K/V through L2, run together; tiles are taken
// latest-first (a later tile of a sequence sees more keys) to shorten the tail. block: 128. smem: 35 KB static
// (K and V tiles of 64 x (128 + 8) bf16, slot lists), under the 48 KB that needs no opt-in.
#include "tensor_core.cuh"

#define TILE_K 64
#define THREADS 128
#define PAD 8
#define MAX_HEAD_DIM 128

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
