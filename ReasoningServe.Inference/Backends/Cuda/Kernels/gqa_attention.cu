// Attention of each new token over its paged context, one block per (token, KV head, context split), so the K and V
// rows a GQA group shares are read once for all of its query heads (up to MAXG per block; larger groups take several
// blocks). Prefill chunks, prefix-cache hits and decode share it; the new tokens' K/V are already in the cache.
//   s_hj = (q_h . k_j) / sqrt(d) for j < ctx[t];  o_h = sum_j softmax(s_h)_j v_j
// Context position j lives in slot blockTable[j / blockSize] * blockSize + j % blockSize.
// Per tile of TILE keys: thread i scores key i against every head of the group (one K row per thread, 16-byte loads),
// warps fold the tile into each head's running max m and sum l (online softmax), then threads own pairs of output
// dimensions and accumulate p * v over the tile (consecutive threads read consecutive V bytes).
// Split-K (flash-decoding): gridDim.z splits share the context in whole tiles. With one split the block writes the
// normalized bf16 output; otherwise it writes its unnormalized fp32 accumulator with its m and l, and
// attention_combine.cu merges the splits. A split left without keys writes m = -inf, l = 0.
// tokenList (optional) names the tokens to process, e.g. the decode tokens of a batch whose prefill chunks go to
// prefill_attention.cu; without it block x is token x.
// grid: (tokens, kvHeads * ceil(group / MAXG), splits), block: NT. head_dim: a power of two from 16 to 256.
#include "common.cuh"

#define NT 128
#define TILE NT
#define MAXG 8
#define MAXD 256

extern "C" __global__ void __launch_bounds__(NT) gqa_attention(const bf16* __restrict__ q, int qRowStride, bf16* __restrict__ out,
    float* __restrict__ partialOut, float* __restrict__ partialMax, float* __restrict__ partialSum,
    const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
    const int* __restrict__ tokenSeq, const int* __restrict__ tokenContext, const int* __restrict__ tokenList, int heads, int kvHeads, int headDim, int blockSize, float scale)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ __align__(16) float qs[MAXG][MAXD];
    __shared__ float probs[MAXG][TILE];
    __shared__ long long slots[TILE];
    __shared__ float runMax[MAXG], runSum[MAXG], correction[MAXG];
    __shared__ float2 folded[MAXG][NT];

    const int tid = threadIdx.x, t = tokenList == nullptr ? blockIdx.x : tokenList[blockIdx.x];
    const int group = heads / kvHeads, chunks = (group + MAXG - 1) / MAXG;
    const int g = blockIdx.y / chunks, chunk = blockIdx.y - g * chunks;
    const int h0 = g * group + chunk * MAXG, G = min(MAXG, group - chunk * MAXG);
    const int splits = gridDim.z, split = blockIdx.z;
    const int context = tokenContext[t];
    const int tilesPerSplit = ((context + TILE - 1) / TILE + splits - 1) / splits;
    const int begin = split * tilesPerSplit * TILE, end = min(context, begin + tilesPerSplit * TILE);
    const long long kvStride = (long long)kvHeads * headDim;
    const int* table = blockTables + (long long)tokenSeq[t] * maxBlocks;

    const bf16* qRow = q + (long long)t * qRowStride + (long long)h0 * headDim;
    for (int i = tid; i < G * headDim; i += NT) qs[i / headDim][i % headDim] = __bfloat162float(qRow[i]) * scale;
    if (tid < MAXG) { runMax[tid] = -INFINITY; runSum[tid] = 0.f; }
    __syncthreads();

    const int pairs = headDim / 2, keyGroups = NT / pairs;
    const int pair = tid % pairs, keyGroup = tid / pairs;
    float2 acc[MAXG];
#pragma unroll
    for (int h = 0; h < MAXG; h++) acc[h] = make_float2(0.f, 0.f);

    for (int j0 = begin; j0 < end; j0 += TILE)
    {
        int j = j0 + tid;
        float s[MAXG];
#pragma unroll
        for (int h = 0; h < MAXG; h++) s[h] = 0.f;
        if (j < end)
        {
            long long slot = (long long)table[j / blockSize] * blockSize + j % blockSize;
            slots[tid] = slot;
            const bf16* k = kCache + slot * kvStride + (long long)g * headDim;
            for (int i = 0; i < headDim; i += 8)
            {
                uint4 packed = *(const uint4*)(k + i);
                const __nv_bfloat162* kp = (const __nv_bfloat162*)&packed;
                float2 k0 = __bfloat1622float2(kp[0]), k1 = __bfloat1622float2(kp[1]), k2 = __bfloat1622float2(kp[2]), k3 = __bfloat1622float2(kp[3]);
#pragma unroll
                for (int h = 0; h < MAXG; h++)
                {
                    if (h < G)
                    {
                        float4 qa = *(const float4*)&qs[h][i], qb = *(const float4*)&qs[h][i + 4];
                        s[h] += qa.x * k0.x + qa.y * k0.y + qa.z * k1.x + qa.w * k1.y + qb.x * k2.x + qb.y * k2.y + qb.z * k3.x + qb.w * k3.y;
                    }
                }
            }
        }
#pragma unroll
        for (int h = 0; h < MAXG; h++) probs[h][tid] = j < end ? s[h] : -INFINITY;
        __syncthreads();

        // One warp per head: the tile's max, its probabilities in place, their sum, the running statistics.
        const int warp = tid >> 5, lane = tid & 31;
        for (int h = warp; h < G; h += NT / 32)
        {
            float v[TILE / 32], tileMax = -INFINITY;
#pragma unroll
            for (int i = 0; i < TILE / 32; i++) { v[i] = probs[h][lane + 32 * i]; tileMax = fmaxf(tileMax, v[i]); }
            tileMax = warp_max(tileMax);
            float mOld = runMax[h], mNew = fmaxf(mOld, tileMax), sum = 0.f;
#pragma unroll
            for (int i = 0; i < TILE / 32; i++) { float p = expf(v[i] - mNew); probs[h][lane + 32 * i] = p; sum += p; }
            sum = warp_sum(sum);
            __syncwarp(); // every lane has read runMax[h] before lane 0 replaces it (a shuffle alone orders no memory)
            if (lane == 0)
            {
                float c = expf(mOld - mNew);
                correction[h] = c;
                runSum[h] = runSum[h] * c + sum;
                runMax[h] = mNew;
            }
        }
        __syncthreads();

        int n = min(TILE, end - j0);
#pragma unroll
        for (int h = 0; h < MAXG; h++)
        {
            if (h < G) { float c = correction[h]; acc[h].x *= c; acc[h].y *= c; }
        }
        const bf16* vBase = vCache + (long long)g * headDim + 2 * pair;
        for (int jj = keyGroup; jj < n; jj += keyGroups)
        {
            float2 v = __bfloat1622float2(*(const __nv_bfloat162*)(vBase + slots[jj] * kvStride));
#pragma unroll
            for (int h = 0; h < MAXG; h++)
            {
                if (h < G) { float p = probs[h][jj]; acc[h].x += p * v.x; acc[h].y += p * v.y; }
            }
        }
        __syncthreads();
    }

    // Threads that took other keys of the same output pair hand their sums to key group 0.
    if (keyGroups > 1)
    {
#pragma unroll
        for (int h = 0; h < MAXG; h++) if (h < G) folded[h][tid] = acc[h];
        __syncthreads();
        if (keyGroup == 0)
        {
            for (int kg = 1; kg < keyGroups; kg++)
            {
#pragma unroll
                for (int h = 0; h < MAXG; h++)
                {
                    if (h < G) { float2 o = folded[h][kg * pairs + pair]; acc[h].x += o.x; acc[h].y += o.y; }
                }
            }
        }
    }
    if (keyGroup != 0) return;

#pragma unroll
    for (int h = 0; h < MAXG; h++)
    {
        if (h >= G) continue;
        long long row = (long long)t * heads + h0 + h;
        if (splits == 1)
        {
            float inverse = 1.f / runSum[h];
            *(__nv_bfloat162*)(out + row * headDim + 2 * pair) = __floats2bfloat162_rn(acc[h].x * inverse, acc[h].y * inverse);
        }
        else
        {
            long long part = row * splits + split;
            *(float2*)(partialOut + part * headDim + 2 * pair) = acc[h];
            if (pair == 0) { partialMax[part] = runMax[h]; partialSum[part] = runSum[h]; }
        }
    }
}
