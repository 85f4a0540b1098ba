// One token per fp32 logits row, drawn on the GPU so only ids (and requested logprobs) cross to the host. Same rules as
// the engine's CPU Sampler, on the row after logit_adjust.cu (bias, min_tokens masking, penalties: `sampled`, which is
// the raw row when nothing needed adjusting):
//   p_i = exp(x_i / T - max_j x_j / T)            (the largest is exactly 1, so min-p's threshold is min_p itself)
//   p_i = 0 where p_i < min_p;  where p_i < the k-th largest p (top-k);  outside the nucleus (top-p: the largest p whose
//   kept mass reaches top_p of the total, found by a binary search on the float bits, so no sort)
//   token = argmax_i p_i / E_i with E_i ~ Exp(1) from a hash of (seed, i): a draw from p restricted to what survived
//   (the exponential race), in one pass, with E in float. T < 1e-5 is greedy (first index of the max, like torch.argmax).
//   Gathered candidates race by log p - log E, a whole row by x / T - log E (the same order, without the max).
// One block does a row, so each pass over a 152k-entry row costs a few microseconds of one SM: the k-th largest p is
// a radix select (4 passes of 8-bit digits, exact), and the entries that can survive (top-k's, or the CANDIDATES
// largest when only top-p cuts and they hold the nucleus) are gathered once into shared memory, where the nucleus
// search (among up to 128 candidates' values, else 31 bit steps) and the race run. A row whose survivors do not fit
// (ties, a flat distribution) takes the bit steps and the race over the whole row.
// Logprobs are of the raw logits (log_softmax): the token's, its rank (1 + how many logits are larger), and the top n
// in order, each found by one pass that takes the best entry ranked after the previous one.
// A forced token (a thinking budget's end) replaces the draw; its logprob is still reported.
// params per row (8 floats): temperature, top_p, min_p, top_k (as float), seed low/high bits (as int bits), n logprobs
// (-1: none), forced token (int bits, -1: none). out per row: token, logprob bits, rank, then MAX_TOP (id, logprob bits).
// grid: rows, block: 1024.
// The sliced path (sample_slices, then sample_merge) does the same for rows of a small batch in place of sample, whose
// one block an SM made a 152k-entry row at top-k 20 and top-p 0.95 cost a one-stream 7B server ~0.24 ms a token against
// greedy (run 25): each of a row's slices (a block of 256 threads, its entries in registers) keeps its top-k + 1 logits
// (a radix select on the logits' order), so that the merge finds top-k's cut among those few (p is monotone in the logit,
// so the k-th largest p is among them) and gathers the survivors in sample's own order; from there it runs sample's
// nucleus and race (the same arithmetic, so the same token for the same seed). Top-p alone (DeepSeek-R1's settings):
// the slices keep their 65 largest, the merge sums the row's mass as sample does and searches the nucleus among the kept
// entries, sound where it lies above everything a slice left out (a peaked row's); the kept mass is summed in another
// order than sample's, so a draw can differ from sample's only where a nucleus' mass lands within rounding of top_p of
// the total. Untruncated rows (T only, no top-k, top-p or min-p) race in their slices by logit, as sample races a row
// too long to gather, and the merge takes the slices' best: the same token. A nucleus reaching below what the slices
// kept (a flat row) takes sample's whole-row search and race, its p written once to scratch (flat_nucleus_and_race).
// Rows it does not take (logprobs, top-k above 64, survivors a slice may have cut) run sample's whole-row path in the
// merge's block.
#include "common.cuh"

#define THREADS 1024
// Every pass over a row keeps this many loads in flight per thread: a pass is then ~10 memory round trips for a
// 152k-entry row instead of the 37 that the compiler's own unrolling by 4 gave (argmax.cu measured 52 us with none).
#define ROW_UNROLL 16
#define MAX_TOP 20
#define OUT_STRIDE (3 + 2 * MAX_TOP)
#define CANDIDATES 1024
#define HISTOGRAM_UNROLL 4
#define SLICE_THREADS 256
#define SLICE_PER_THREAD 16 // a slice holds at most SLICE_THREADS * SLICE_PER_THREAD entries (Sample.SliceEntries)
#define SLICE_MAX_TOP_K 64  // the top-k the sliced path takes (Sample.SlicedMaxTopK)
#define SLICE_KEEP (2 * (SLICE_MAX_TOP_K + 1)) // candidates a slice may keep; more (ties at its cut) send the row to the whole-row path
#define MAX_SLICES 64       // Sample.MaxSlices
#define MERGE_PER_THREAD ((MAX_SLICES * SLICE_KEEP + THREADS - 1) / THREADS)

__device__ __forceinline__ unsigned long long mix64(unsigned long long z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// A row's seed: its parameters' low and high bits (params[4], params[5], as int bits).
__device__ __forceinline__ unsigned long long row_seed(const float* p) { return (unsigned long long)(unsigned)__float_as_int(p[4]) | ((unsigned long long)(unsigned)__float_as_int(p[5]) << 32); }

// p of logit x after temperature and min-p (0 where filtered), recomputed where needed instead of stored.
__device__ __forceinline__ float prob_of(float x, float invT, float scaledMax, float minP)
{
    float p = expf(x * invT - scaledMax);
    return p < minP ? 0.f : p;
}

__device__ __forceinline__ float prob(const float* row, int i, float invT, float scaledMax, float minP)
{
    return prob_of(row[i], invT, scaledMax, minP);
}

// Entry i's E ~ Exp(1) for the exponential race: -log(u), u in (0, 1] from 53 random bits of (seed, i), in float: below
// 1/2 from u itself, above from 1 - u (exact in 53 bits) through log1p, so no double-precision logarithm is needed.
__device__ __forceinline__ float race_exponential(int i, unsigned long long seed)
{
    const unsigned long long h = mix64(seed ^ mix64((unsigned long long)i)) >> 11;
    return h < (1ull << 52) ? -logf(__ull2float_rn(h + 1) * 0x1p-53f) : -log1pf(-__ull2float_rn((1ull << 53) - 1 - h) * 0x1p-53f);
}

// One entry of the exponential race by its p: the key log(q) - log(E) orders like q / E.
__device__ __forceinline__ void race_entry(float q, int i, unsigned long long seed, float& race, int& raceIndex)
{
    float key = logf(q) - logf(race_exponential(i, seed));
    if (better(key, i, race, raceIndex)) { race = key; raceIndex = i; }
}

// One entry of the race by its logit: x / T - log(E) orders like q / E too (log q is x / T less a constant), so it needs
// neither the row's max nor an exponential; one fma, so every kernel that races this way gets the same bits.
__device__ __forceinline__ void race_entry_logit(float x, float invT, int i, unsigned long long seed, float& race, int& raceIndex)
{
    float key = fmaf(x, invT, -logf(race_exponential(i, seed)));
    if (better(key, i, race, raceIndex)) { race = key; raceIndex = i; }
}

// One warp: the histogram's bin (from the top) where the running count reaches k into choice[0], and k less the entries
// of the bins above it into choice[1]. Lane l holds bins 255 - 8l down to 248 - 8l; the first lane whose running count
// reaches k holds the digit.
__device__ __forceinline__ void choose_digit(const int* histogram, int k, int* choice)
{
    const int lane = threadIdx.x & 31;
    int own = 0;
#pragma unroll
    for (int j = 0; j < 8; j++) own += histogram[255 - 8 * lane - j];
    int running = own;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1)
    {
        int v = __shfl_up_sync(0xffffffffu, running, o);
        if (lane >= o) running += v;
    }
    unsigned reached = __ballot_sync(0xffffffffu, running >= k);
    int first = __ffs(reached) - 1;
    if (lane == first)
    {
        int above = running - own;
        for (int j = 0; j < 8; j++)
        {
            int bin = 255 - 8 * lane - j;
            if (above + histogram[bin] >= k) { choice[0] = bin; choice[1] = k - above; break; }
            above += histogram[bin];
        }
    }
}

// One value into the histogram pass of radix_select: where counted, its digit's bin gets it, warp-aggregated (a peaked
// row puts most values in a few bins). Every lane of the warp calls it together.
__device__ __forceinline__ void count_digit(bool counted, unsigned bits, int shift, int* histogram)
{
    int bin = counted ? (int)((bits >> shift) & 255u) : -1;
    unsigned same = __match_any_sync(0xffffffffu, bin);
    if (counted && (threadIdx.x & 31) == __ffs(same) - 1) atomicAdd(&histogram[bin], __popc(same));
}

// The bits of the k-th largest of the block's values (1 <= k, no more than it counts): 4 passes each settle 8 bits,
// count(prefix, mask, shift) putting every value whose bits match prefix under mask into histogram by its digit at
// shift (count_digit). Exactly the largest t with count(v >= t) >= k, which is what a 31-step search finds.
template <class Count>
__device__ __forceinline__ unsigned radix_select(int k, int* histogram, int* choice, Count count)
{
    unsigned prefix = 0, mask = 0;
    for (int shift = 24; shift >= 0; shift -= 8)
    {
        for (int b = threadIdx.x; b < 256; b += blockDim.x) histogram[b] = 0;
        __syncthreads();
        count(prefix, mask, shift);
        __syncthreads();
        if (threadIdx.x < 32) choose_digit(histogram, k, choice);
        __syncthreads();
        prefix |= (unsigned)choice[0] << shift;
        mask |= 255u << shift;
        k = choice[1];
        __syncthreads();
    }
    return prefix;
}

// The bits of the k-th largest p of the row (1 <= k): non-negative floats order like their bits.
__device__ unsigned kth_largest_bits(const float* row, int n, float invT, float scaledMax, float minP, int k, int* histogram, int* choice)
{
    const int lane = threadIdx.x & 31;
    return radix_select(k, histogram, choice, [&](unsigned prefix, unsigned mask, int shift)
    {
        // every lane runs the same number of iterations, so the warp stays converged for __match_any_sync; the row's
        // loads for HISTOGRAM_UNROLL iterations go out before the first is counted
        for (int base = threadIdx.x - lane; base < n; base += THREADS * HISTOGRAM_UNROLL)
        {
            float x[HISTOGRAM_UNROLL];
#pragma unroll
            for (int u = 0; u < HISTOGRAM_UNROLL; u++)
            {
                int i = base + lane + u * THREADS;
                x[u] = i < n ? row[i] : -INFINITY;
            }
#pragma unroll
            for (int u = 0; u < HISTOGRAM_UNROLL; u++)
            {
                int i = base + lane + u * THREADS;
                unsigned bits = __float_as_uint(prob_of(x[u], invT, scaledMax, minP));
                count_digit(i < n && (bits & mask) == prefix, bits, shift, histogram);
            }
        }
    });
}

// Exclusive prefix of v over the block's threads in order; *total gets the sum. scratch holds 33 ints.
__device__ __forceinline__ int block_exclusive_scan(int v, int* scratch, int* total)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int inclusive = v;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1)
    {
        int u = __shfl_up_sync(0xffffffffu, inclusive, o);
        if (lane >= o) inclusive += u;
    }
    if (lane == 31) scratch[warp] = inclusive;
    __syncthreads();
    if (warp == 0)
    {
        int w = lane < (int)(blockDim.x >> 5) ? scratch[lane] : 0, wi = w;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1)
        {
            int u = __shfl_up_sync(0xffffffffu, wi, o);
            if (lane >= o) wi += u;
        }
        scratch[lane] = wi - w;
        if (lane == 31) scratch[32] = wi;
    }
    __syncthreads();
    int result = scratch[warp] + inclusive - v;
    *total = scratch[32];
    __syncthreads();
    return result;
}

// The kept mass at t of the gathered candidates exactly as the bit search's block_sum adds it (thread j holding slot
// j's p where p >= t): each warp's 32 slots by warp_sum, then the warps' sums by warp_sum in warp order; here by one
// warp alone. count <= THREADS.
__device__ __forceinline__ float candidate_mass_at(const float* candidateP, int count, float t)
{
    const int lane = threadIdx.x & 31;
    float warps = 0.f; // lane w: warp w's sum
    for (int w = 0; w * 32 < count; w++)
    {
        const int j = w * 32 + lane;
        const float v = warp_sum(j < count && candidateP[j] >= t ? candidateP[j] : 0.f);
        if (lane == w) warps = v;
    }
    return warp_sum(warps);
}

// Up to this many gathered candidates, the nucleus is found among their values (each a warp's candidate_mass_at) instead
// of by the 31-step bit search's block sums (~10 us of one block).
#define NUCLEUS_BY_VALUES 128

// The nucleus (top-p) and the exponential race over what survived min-p and top-k's cut (threshold, p's bits): the
// gathered candidates (candidateP / candidateIndex, count of them, in the row's thread-major order) or, not gathered,
// the whole row. total: the nucleus' total where already known, else 0 (the candidates' mass). THREADS threads.
__device__ __forceinline__ int nucleus_and_race(const float* __restrict__ row, int n, float invT, float scaledMax, float minP, float topP, unsigned threshold,
    bool gathered, int count, float total, unsigned long long seed, int bestIndex, const float* candidateP, const int* candidateIndex,
    float* scratch, float* values, int* indices)
{
    const float floorValue = __int_as_float((int)threshold);
    if (topP < 1.f)
    {
        if (gathered)
        {
            float candidateMass = 0.f;
            for (int j = threadIdx.x; j < count; j += THREADS) candidateMass += candidateP[j] >= floorValue ? candidateP[j] : 0.f;
            candidateMass = block_sum(candidateMass, scratch);
            if (total == 0.f) total = candidateMass; // top-k's survivors (or the whole row) are the candidates
            if (candidateMass < topP * total) gathered = false; // the nucleus reaches below the candidates
        }
        if (!gathered)
        {
            total = 0.f;
#pragma unroll ROW_UNROLL
            for (int i = threadIdx.x; i < n; i += THREADS)
            {
                float q = prob(row, i, invT, scaledMax, minP);
                total += q >= floorValue ? q : 0.f;
            }
            total = block_sum(total, scratch);
        }
        float mass = topP * total;
        // S(t) = mass of what survives both cuts is total (>= mass) up to the top-k floor and falls after it, so the
        // bit-by-bit search for the largest t with S(t) >= mass starts from 0 and lands at or above the floor.
        unsigned nucleus = 0;
        if (gathered && count <= NUCLEUS_BY_VALUES)
        {
            // S only changes at the candidates' values (and never rises with t: rounding is monotone), so what the bit
            // search below finds is the largest candidate value whose S reaches mass: the same bits, without its steps
            __shared__ unsigned found;
            if (threadIdx.x == 0) found = 0u;
            __syncthreads();
            unsigned mine = 0u;
            for (int j = threadIdx.x >> 5; j < count; j += THREADS / 32)
            {
                const float t = fmaxf(candidateP[j], floorValue);
                const float keptMass = candidate_mass_at(candidateP, count, t);
                if (keptMass >= mass && keptMass > 0.f) mine = max(mine, __float_as_uint(t));
            }
            if ((threadIdx.x & 31) == 0 && mine != 0u) atomicMax(&found, mine);
            __syncthreads();
            nucleus = found;
            __syncthreads();
        }
        else
        {
            for (int bit = 30; bit >= 0; bit--)
            {
                unsigned candidate = nucleus | (1u << bit);
                float t = fmaxf(__int_as_float((int)candidate), floorValue);
                float kept = 0.f;
                if (gathered)
                {
                    for (int j = threadIdx.x; j < count; j += THREADS) kept += candidateP[j] >= t ? candidateP[j] : 0.f;
                }
                else
                {
#pragma unroll ROW_UNROLL
                    for (int i = threadIdx.x; i < n; i += THREADS)
                    {
                        float q = prob(row, i, invT, scaledMax, minP);
                        kept += q >= t ? q : 0.f;
                    }
                }
                // kept > 0: a top_p so small that its mass rounds to 0 still keeps the most likely token, where NaN
                // thresholds (all bits set) would otherwise keep nothing
                float keptMass = block_sum(kept, scratch);
                if (keptMass >= mass && keptMass > 0.f) nucleus = candidate;
            }
        }
        threshold = max(nucleus, threshold);
    }
    float cut = __int_as_float((int)threshold);
    float race = -INFINITY;
    int raceIndex = 0x7fffffff;
    if (gathered)
    {
        for (int j = threadIdx.x; j < count; j += THREADS)
            if (candidateP[j] >= cut) race_entry(candidateP[j], candidateIndex[j], seed, race, raceIndex);
    }
    else
    {
#pragma unroll ROW_UNROLL
        for (int i = threadIdx.x; i < n; i += THREADS)
        {
            const float x = row[i], q = prob_of(x, invT, scaledMax, minP);
            if (q > 0.f && q >= cut) race_entry_logit(x, invT, i, seed, race, raceIndex);
        }
    }
    block_best(race, raceIndex, values, indices);
    return raceIndex == 0x7fffffff ? bestIndex : raceIndex; // nothing kept cannot happen; never return a non-token
}

// sample's row r (p: its 8 parameters, o: its results) by passes over the whole row. THREADS threads.
__device__ __forceinline__ void sample_row(const float* __restrict__ raw, const float* __restrict__ row, int n, const float* __restrict__ p, int* __restrict__ o)
{
    __shared__ float values[32];
    __shared__ int indices[32];
    __shared__ float scratch[32];
    __shared__ int histogram[256], choice[2], scanScratch[33];
    __shared__ float candidateP[CANDIDATES];
    __shared__ int candidateIndex[CANDIDATES];
    float temperature = p[0], topP = p[1], minP = p[2];
    int topK = (int)p[3];
    unsigned long long seed = row_seed(p);
    int numLogprobs = (int)p[6];
    int forced = __float_as_int(p[7]);

    // the maximum of the adjusted row (greedy's answer, and the probabilities' reference)
    float best = -INFINITY;
    int bestIndex = 0x7fffffff;
#pragma unroll ROW_UNROLL
    for (int i = threadIdx.x; i < n; i += THREADS)
        if (better(row[i], i, best, bestIndex)) { best = row[i]; bestIndex = i; }
    block_best(best, bestIndex, values, indices);
    int token = bestIndex;

    if (forced >= 0)
    {
        token = forced;
    }
    else if (temperature >= 1e-5f)
    {
        float invT = 1.f / temperature, scaledMax = best * invT;
        // Keep p >= threshold: min-p's zeroes (inside prob()) and top-k's / top-p's cut, each the largest float (as
        // bits: positive floats order like their bits) whose survivors still count k / still hold top_p of the mass.
        unsigned threshold = 0;
        if (topK > 0 && topK < n) threshold = kth_largest_bits(row, n, invT, scaledMax, minP, topK, histogram, choice);
        float floorValue = __int_as_float((int)threshold);

        // Gather what can survive: top-k's survivors, or (top-p alone) the CANDIDATES largest, whose mass must then
        // reach the nucleus' for the search to stay among them. Every p >= the final cut is among the candidates.
        bool gathered = false;
        int count = 0;
        float total = 0.f;
        bool byTopK = topK > 0 && topK <= CANDIDATES;
        if (byTopK || topP < 1.f || n <= CANDIDATES)
        {
            unsigned floorBits = threshold;
            if (!byTopK && n > CANDIDATES)
                floorBits = max(threshold, kth_largest_bits(row, n, invT, scaledMax, minP, CANDIDATES, histogram, choice));
            float candidateFloor = __int_as_float((int)floorBits);
            int mine = 0;
            float rowMass = 0.f;
#pragma unroll ROW_UNROLL
            for (int i = threadIdx.x; i < n; i += THREADS)
            {
                float q = prob(row, i, invT, scaledMax, minP);
                mine += q > 0.f && q >= candidateFloor ? 1 : 0;
                rowMass += q >= floorValue ? q : 0.f;
            }
            int offset = block_exclusive_scan(mine, scanScratch, &count);
            if (count <= CANDIDATES)
            {
                // thread-major order: deterministic, so the sums below (and a seeded draw) repeat exactly
#pragma unroll ROW_UNROLL
                for (int i = threadIdx.x; i < n; i += THREADS)
                {
                    float q = prob(row, i, invT, scaledMax, minP);
                    if (q > 0.f && q >= candidateFloor)
                    {
                        candidateP[offset] = q;
                        candidateIndex[offset++] = i;
                    }
                }
                gathered = true;
                // the nucleus' total is over everything top-k keeps: the candidates when they are top-k's survivors
                total = block_sum(floorBits == threshold ? 0.f : rowMass, scratch);
                __syncthreads();
            }
        }
        token = nucleus_and_race(row, n, invT, scaledMax, minP, topP, threshold, gathered, count, total, seed, bestIndex, candidateP,
            candidateIndex, scratch, values, indices);
    }

    if (numLogprobs >= 0)
    {
        // logprobs are of the raw logits, before any adjustment
        row = raw;
        best = -INFINITY;
        bestIndex = 0x7fffffff;
#pragma unroll ROW_UNROLL
        for (int i = threadIdx.x; i < n; i += THREADS)
            if (better(row[i], i, best, bestIndex)) { best = row[i]; bestIndex = i; }
        block_best(best, bestIndex, values, indices);
        float sum = 0.f, chosen = row[token], larger = 0.f;
#pragma unroll ROW_UNROLL
        for (int i = threadIdx.x; i < n; i += THREADS)
        {
            sum += expf(row[i] - best);
            larger += row[i] > chosen ? 1.f : 0.f;
        }
        float logSumExp = best + logf(block_sum(sum, scratch));
        larger = block_sum(larger, scratch);
        if (threadIdx.x == 0)
        {
            o[1] = __float_as_int(chosen - logSumExp);
            o[2] = (int)larger + 1;
        }
        // top n in (value desc, index asc) order: each pass takes the best entry ranked after the previous one
        float previous = INFINITY;
        int previousIndex = -1;
        for (int k = 0; k < min(numLogprobs, MAX_TOP); k++)
        {
            float v = -INFINITY;
            int index = 0x7fffffff;
#pragma unroll ROW_UNROLL
            for (int i = threadIdx.x; i < n; i += THREADS)
            {
                float x = row[i];
                if (better(previous, previousIndex, x, i) && better(x, i, v, index)) { v = x; index = i; }
            }
            block_best(v, index, values, indices);
            if (threadIdx.x == 0)
            {
                o[3 + 2 * k] = index;
                o[4 + 2 * k] = __float_as_int(v - logSumExp);
            }
            previous = v;
            previousIndex = index;
        }
    }
    if (threadIdx.x == 0) o[0] = token;
}

extern "C" __global__ void __launch_bounds__(THREADS) sample(const float* __restrict__ logits, const float* __restrict__ adjusted, int n,
    const float* __restrict__ params, int* __restrict__ out)
{
    launch_next_grid();
    wait_for_previous_grid();
    sample_row(logits + (long long)blockIdx.x * n, adjusted + (long long)blockIdx.x * n, n, params + blockIdx.x * 8, out + blockIdx.x * OUT_STRIDE);
}

// The k-th largest of the non-zero values the block holds in registers, PER a thread (0: no value; at least k are
// non-zero). Every thread calls it.
template <int PER>
__device__ unsigned kth_largest_in_registers(const unsigned (&v)[PER], int k, int* histogram, int* choice)
{
    return radix_select(k, histogram, choice, [&](unsigned prefix, unsigned mask, int shift)
    {
#pragma unroll
        for (int j = 0; j < PER; j++) count_digit(v[j] != 0u && (v[j] & mask) == prefix, v[j], shift, histogram);
    });
}

// A float's place in the order of floats as an unsigned (larger float, larger key), never 0.
__device__ __forceinline__ unsigned order_key(float x)
{
    unsigned u = __float_as_uint(x);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float key_value(unsigned key) { return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key); }

// A draw from the whole row (no top-k, top-p or min-p: an OpenAI request's defaults where the model sets none), which
// the slices race for themselves, each over its entries by logit: the same keys as sample's race over a row too long
// to gather (n > CANDIDATES), so the same token.
__device__ __forceinline__ bool untruncated_row(int n, int topK, float topP, float minP) { return n > CANDIDATES && topK <= 0 && topP >= 1.f && minP <= 0.f; }

// Whether the sliced path draws this row itself (else sample's whole-row path does, in the merge's block): greedy,
// forced, top-k 1 to SLICE_MAX_TOP_K, top-p alone (whose nucleus the merge finds among the slices' SLICE_MAX_TOP_K + 1
// largest where they hold it), or untruncated.
__device__ __forceinline__ bool sliced_row(int n, float temperature, int topK, float topP, float minP, int numLogprobs, int forced)
{
    return numLogprobs < 0 && (forced >= 0 || temperature < 1e-5f || (topK >= 1 && topK <= SLICE_MAX_TOP_K) || (topK <= 0 && topP < 1.f)
        || untruncated_row(n, topK, topP, minP));
}

// The entries a slice keeps: its top-k + 1, or for top-p alone its SLICE_MAX_TOP_K + 1.
__device__ __forceinline__ int slice_keeps(int topK) { return (topK >= 1 ? topK : SLICE_MAX_TOP_K) + 1; }

// One slice of a row: its argmax, and the entries whose logits are at or above its (top-k + 1)-th largest (all of them
// when it holds no more), unless those are over SLICE_KEEP. heads[row][slice] = (kept count or -1, the cut's key or 0
// when every entry was kept, the argmax's value bits, its index); kept[row][slice][SLICE_KEEP] = (logit, index bits).
// grid: (rows, slices), block: SLICE_THREADS; slices * SLICE_THREADS * SLICE_PER_THREAD >= n.
extern "C" __global__ void __launch_bounds__(SLICE_THREADS) sample_slices(const float* __restrict__ adjusted, int n, const float* __restrict__ params,
    int4* __restrict__ heads, float2* __restrict__ kept)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ float values[32];
    __shared__ int indices[32];
    __shared__ int histogram[256], choice[2], scanScratch[33];
    const int r = blockIdx.x, slice = blockIdx.y, slices = gridDim.y;
    const float* row = adjusted + (long long)r * n;
    const float* p = params + r * 8;
    const int length = (n + slices - 1) / slices, begin = slice * length, end = min(n, begin + length);
    float x[SLICE_PER_THREAD];
    float best = -INFINITY;
    int bestIndex = 0x7fffffff;
#pragma unroll
    for (int j = 0; j < SLICE_PER_THREAD; j++)
    {
        const int i = begin + threadIdx.x + j * SLICE_THREADS;
        x[j] = i < end ? row[i] : 0.f;
        if (i < end && better(x[j], i, best, bestIndex)) { best = x[j]; bestIndex = i; }
    }
    block_best(best, bestIndex, values, indices);
    const float temperature = p[0];
    const int topK = (int)p[3], forced = __float_as_int(p[7]);
    int count = 0;
    unsigned cut = 0;
    // rows the slices sample (greedy and forced ones need only the argmax)
    const bool draws = sliced_row(n, temperature, topK, p[1], p[2], (int)p[6], forced) && forced < 0 && temperature >= 1e-5f;
    if (draws && untruncated_row(n, topK, p[1], p[2]))
    {
        // the slice's winner of the race, into its first kept slot
        const float invT = 1.f / temperature;
        const unsigned long long seed = row_seed(p);
        float race = -INFINITY;
        int raceIndex = 0x7fffffff;
#pragma unroll
        for (int j = 0; j < SLICE_PER_THREAD; j++)
        {
            const int i = begin + threadIdx.x + j * SLICE_THREADS;
            if (i < end && x[j] > -INFINITY) race_entry_logit(x[j], invT, i, seed, race, raceIndex);
        }
        block_best(race, raceIndex, values, indices);
        if (threadIdx.x == 0) kept[((long long)r * slices + slice) * SLICE_KEEP] = make_float2(race, __int_as_float(raceIndex));
        count = 1;
    }
    else if (draws)
    {
        unsigned key[SLICE_PER_THREAD];
#pragma unroll
        for (int j = 0; j < SLICE_PER_THREAD; j++) key[j] = begin + threadIdx.x + j * SLICE_THREADS < end ? order_key(x[j]) : 0u;
        if (end - begin > slice_keeps(topK)) cut = kth_largest_in_registers(key, slice_keeps(topK), histogram, choice);
        int mine = 0;
#pragma unroll
        for (int j = 0; j < SLICE_PER_THREAD; j++) mine += key[j] != 0u && key[j] >= cut ? 1 : 0;
        int offset = block_exclusive_scan(mine, scanScratch, &count);
        if (count <= SLICE_KEEP)
        {
            float2* out = kept + ((long long)r * slices + slice) * SLICE_KEEP;
#pragma unroll
            for (int j = 0; j < SLICE_PER_THREAD; j++)
                if (key[j] != 0u && key[j] >= cut) out[offset++] = make_float2(x[j], __int_as_float(begin + threadIdx.x + j * SLICE_THREADS));
        }
        else
        {
            count = -1;
        }
    }
    if (threadIdx.x == 0) heads[(long long)r * slices + slice] = make_int4(count, (int)cut, __float_as_int(best), bestIndex);
}

// Chunks of 4 * THREADS entries in a row of n: a flat row's p take flat_chunks(n) * THREADS float4s (Sample.FlatBytes).
__device__ __forceinline__ int flat_chunks(int n) { return (n + 4 * THREADS - 1) / (4 * THREADS); }

// nucleus_and_race over a whole row for top-p alone, for the merge's block: the same sums in the same order (thread t's
// entries t, t + THREADS, ...), so the same cut, and the same race by logit, so the same token as sample's. The row's p
// are computed once into rowQ (rowQ[j * THREADS + t] holds entries t + (4j + c) * THREADS, c = 0..3; 0 past n), so each
// of the bit search's 31 passes loads them 16 bytes at a time instead of taking an exponential an entry: such a pass
// over a 151936-entry row was bound by its exponentials (~14.5 us of one block, run 27). mass: top_p of the row's total
// (the merge's rowMass, summed as sample sums it).
__device__ int flat_nucleus_and_race(const float* __restrict__ row, int n, float invT, float scaledMax, float minP, float mass,
    unsigned long long seed, int bestIndex, float4* __restrict__ rowQ, float* scratch, float* values, int* indices)
{
    const int chunks = flat_chunks(n), t = threadIdx.x;
    for (int j = 0; j < chunks; j++)
    {
        float q[4];
#pragma unroll
        for (int c = 0; c < 4; c++)
        {
            const int i = t + (4 * j + c) * THREADS;
            q[c] = i < n ? prob(row, i, invT, scaledMax, minP) : 0.f;
        }
        rowQ[j * THREADS + t] = make_float4(q[0], q[1], q[2], q[3]);
    }
    // each thread reads back only what it wrote
    unsigned nucleus = 0;
    for (int bit = 30; bit >= 0; bit--)
    {
        const unsigned candidate = nucleus | (1u << bit);
        const float cut = fmaxf(__int_as_float((int)candidate), 0.f);
        float kept = 0.f;
#pragma unroll 8
        for (int j = 0; j < chunks; j++)
        {
            const float4 q = rowQ[j * THREADS + t];
            kept += q.x >= cut ? q.x : 0.f;
            kept += q.y >= cut ? q.y : 0.f;
            kept += q.z >= cut ? q.z : 0.f;
            kept += q.w >= cut ? q.w : 0.f;
        }
        const float keptMass = block_sum(kept, scratch);
        if (keptMass >= mass && keptMass > 0.f) nucleus = candidate;
    }
    const float cut = __int_as_float((int)nucleus);
    float race = -INFINITY;
    int raceIndex = 0x7fffffff;
    for (int j = 0; j < chunks; j++)
    {
        const float4 q4 = rowQ[j * THREADS + t];
        const float q[4] = {q4.x, q4.y, q4.z, q4.w};
#pragma unroll
        for (int c = 0; c < 4; c++)
        {
            const int i = t + (4 * j + c) * THREADS;
            if (q[c] > 0.f && q[c] >= cut) race_entry_logit(row[i], invT, i, seed, race, raceIndex);
        }
    }
    block_best(race, raceIndex, values, indices);
    return raceIndex == 0x7fffffff ? bestIndex : raceIndex;
}

// A row from its slices: the argmax of their argmaxes; top-k's cut, the k-th largest p of the kept entries (p is
// monotone in the logit, so the row's k largest are among each slice's top-k + 1); the survivors (p > 0 and at or above
// the cut), complete unless a slice left out an entry that could tie at the cut, put in sample's thread-major order
// (index % THREADS, then index / THREADS) as sample's gather would; then sample's nucleus and race. Rows it does not
// take, or whose survivors are not complete, run sample_row. grid: rows, block: THREADS.
extern "C" __global__ void __launch_bounds__(THREADS) sample_merge(const float* __restrict__ logits, const float* __restrict__ adjusted, int n,
    const float* __restrict__ params, const int4* __restrict__ heads, const float2* __restrict__ kept, float4* __restrict__ flat, int slices,
    int* __restrict__ out)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ float values[32];
    __shared__ int indices[32];
    __shared__ float scratch[32];
    __shared__ int histogram[256], choice[2], scanScratch[33];
    __shared__ int sliceCount[MAX_SLICES];
    __shared__ unsigned sliceCut[MAX_SLICES];
    __shared__ unsigned survivorOrder[CANDIDATES];
    __shared__ float survivorP[CANDIDATES], candidateP[CANDIDATES];
    __shared__ int survivorIndex[CANDIDATES], candidateIndex[CANDIDATES];
    const int r = blockIdx.x;
    const float* p = params + r * 8;
    int* o = out + r * OUT_STRIDE;
    const float temperature = p[0], topP = p[1], minP = p[2];
    const int topK = (int)p[3], numLogprobs = (int)p[6], forced = __float_as_int(p[7]);
    const unsigned long long seed = row_seed(p);
    const int4* head = heads + (long long)r * slices;

    float best = -INFINITY;
    int bestIndex = 0x7fffffff;
    if (threadIdx.x < slices)
    {
        const int4 h = head[threadIdx.x];
        best = __int_as_float(h.z);
        bestIndex = h.w;
        sliceCount[threadIdx.x] = h.x;
        sliceCut[threadIdx.x] = (unsigned)h.y;
    }
    block_best(best, bestIndex, values, indices);
    bool whole = !sliced_row(n, temperature, topK, topP, minP, numLogprobs, forced);
    if (!whole && (forced >= 0 || temperature < 1e-5f))
    {
        if (threadIdx.x == 0) o[0] = forced >= 0 ? forced : bestIndex;
        return;
    }
    if (!whole && untruncated_row(n, topK, topP, minP))
    {
        // the winner of the slices' winners
        float race = -INFINITY;
        int raceIndex = 0x7fffffff;
        if (threadIdx.x < slices)
        {
            const float2 e = kept[((long long)r * slices + threadIdx.x) * SLICE_KEEP];
            race = e.x;
            raceIndex = __float_as_int(e.y);
        }
        block_best(race, raceIndex, values, indices);
        if (threadIdx.x == 0) o[0] = raceIndex == 0x7fffffff ? bestIndex : raceIndex;
        return;
    }
    whole = __syncthreads_or(whole || (threadIdx.x < slices && sliceCount[threadIdx.x] < 0));
    if (!whole)
    {
        const float invT = 1.f / temperature, scaledMax = best * invT;
        float q[MERGE_PER_THREAD];
        int index[MERGE_PER_THREAD];
        unsigned bits[MERGE_PER_THREAD];
        int nonZero = 0;
#pragma unroll
        for (int m = 0; m < MERGE_PER_THREAD; m++)
        {
            const int slot = threadIdx.x + m * THREADS, b = slot / SLICE_KEEP, j = slot % SLICE_KEEP;
            const bool valid = b < slices && j < sliceCount[b];
            const float2 e = valid ? kept[((long long)r * slices + b) * SLICE_KEEP + j] : make_float2(0.f, 0.f);
            q[m] = valid ? prob_of(e.x, invT, scaledMax, minP) : 0.f;
            index[m] = valid ? __float_as_int(e.y) : -1;
            bits[m] = __float_as_uint(q[m]);
            nonZero += bits[m] != 0u ? 1 : 0;
        }
        if (topK <= 0)
        {
            // Top-p alone: the nucleus' total is the whole row's mass, summed as sample's gather sums it; the cut is the
            // largest kept p whose mass at or above it reaches top_p of that (the bit search of nucleus_and_race, over the
            // kept entries), sound only above every p a slice left out: else the whole-row path.
            float rowMass = 0.f;
#pragma unroll ROW_UNROLL
            for (int i = threadIdx.x; i < n; i += THREADS) rowMass += prob(adjusted + (long long)r * n, i, invT, scaledMax, minP);
            const float mass = topP * block_sum(rowMass, scratch);
            float bound = 0.f;
            if (threadIdx.x < slices && sliceCut[threadIdx.x] != 0u) bound = prob_of(key_value(sliceCut[threadIdx.x]), invT, scaledMax, minP);
            bound = block_max(bound, scratch);
            // a flat row's nucleus reaches below what the slices kept: to the whole-row path at once
            float above = 0.f;
#pragma unroll
            for (int m = 0; m < MERGE_PER_THREAD; m++) above += index[m] >= 0 && q[m] > bound ? q[m] : 0.f;
            unsigned nucleus = 0;
            if (block_sum(above, scratch) >= mass)
            {
                for (int bit = 30; bit >= 0; bit--)
                {
                    const unsigned candidate = nucleus | (1u << bit);
                    const float t = __int_as_float((int)candidate);
                    float kept = 0.f;
#pragma unroll
                    for (int m = 0; m < MERGE_PER_THREAD; m++) kept += index[m] >= 0 && q[m] >= t ? q[m] : 0.f;
                    const float keptMass = block_sum(kept, scratch);
                    if (keptMass >= mass && keptMass > 0.f) nucleus = candidate;
                }
            }
            const float cut = __int_as_float((int)nucleus);
            int token;
            if (cut > bound)
            {
                float race = -INFINITY;
                int raceIndex = 0x7fffffff;
#pragma unroll
                for (int m = 0; m < MERGE_PER_THREAD; m++)
                    if (index[m] >= 0 && q[m] > 0.f && q[m] >= cut) race_entry(q[m], index[m], seed, race, raceIndex);
                block_best(race, raceIndex, values, indices);
                token = raceIndex == 0x7fffffff ? bestIndex : raceIndex;
            }
            else
            {
                // the nucleus reaches below what the slices kept (a flat row): sample's search and race over the whole
                // row (its total is rowMass), without the passes sample_row would spend first on a 1024-candidate gather
                token = flat_nucleus_and_race(adjusted + (long long)r * n, n, invT, scaledMax, minP, mass, seed, bestIndex,
                    flat + (long long)r * flat_chunks(n) * THREADS, scratch, values, indices);
            }
            if (threadIdx.x == 0) o[0] = token;
            return;
        }
        else
        {
            // top-k's cut: the k-th largest p, 0 when fewer than k are above min-p (as sample's, which counts the zeros)
            nonZero = (int)block_sum((float)nonZero, scratch);
            const unsigned threshold = nonZero >= topK ? kth_largest_in_registers(bits, topK, histogram, choice) : 0u;
            const float floorValue = __int_as_float((int)threshold);
            // complete unless a slice left out entries whose p could reach the cut
            bool missing = false;
            if (threadIdx.x < slices && sliceCut[threadIdx.x] != 0u)
            {
                const float cutP = prob_of(key_value(sliceCut[threadIdx.x]), invT, scaledMax, minP);
                missing = cutP > 0.f && cutP >= floorValue;
            }
            int mine = 0;
#pragma unroll
            for (int m = 0; m < MERGE_PER_THREAD; m++) mine += index[m] >= 0 && q[m] > 0.f && q[m] >= floorValue ? 1 : 0;
            int count;
            int offset = block_exclusive_scan(mine, scanScratch, &count);
            whole = __syncthreads_or(missing) || count > CANDIDATES;
            if (!whole)
            {
#pragma unroll
                for (int m = 0; m < MERGE_PER_THREAD; m++)
                    if (index[m] >= 0 && q[m] > 0.f && q[m] >= floorValue)
                    {
                        survivorOrder[offset] = (unsigned)(index[m] % THREADS) << 20 | (unsigned)(index[m] / THREADS);
                        survivorP[offset] = q[m];
                        survivorIndex[offset++] = index[m];
                    }
                __syncthreads();
                if (threadIdx.x < count)
                {
                    const unsigned own = survivorOrder[threadIdx.x];
                    int rank = 0;
                    for (int j = 0; j < count; j++) rank += survivorOrder[j] < own ? 1 : 0;
                    candidateP[rank] = survivorP[threadIdx.x];
                    candidateIndex[rank] = survivorIndex[threadIdx.x];
                }
                __syncthreads();
                const int token = nucleus_and_race(adjusted + (long long)r * n, n, invT, scaledMax, minP, topP, threshold, true, count, 0.f, seed,
                    bestIndex, candidateP, candidateIndex, scratch, values, indices);
                if (threadIdx.x == 0) o[0] = token;
                return;
            }
        }
    }
    sample_row(logits + (long long)r * n, adjusted + (long long)r * n, n, p, o);
}
