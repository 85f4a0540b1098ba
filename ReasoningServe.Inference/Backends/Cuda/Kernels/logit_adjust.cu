// The engine sampler's logit processing, applied where the logits are: processed = raw, then for each listed token of
// the row (entries of 5 ints: token, masked, add, repetition, subtract as float bits), in the sampler's order:
//   l = raw + add;  -inf if masked;  l = l > 0 ? l / repetition : l * repetition (repetition != 1);  l -= subtract
// The raw row stays for logprobs (they are of the raw logits). offsets: rows + 1 ints into the entries. The copy moves
// 16 bytes per load with 8 in flight per thread where n is a multiple of 4 (a 152k-entry row in ~19 round trips).
// grid: rows, block: 256.
#include "common.cuh"

extern "C" __global__ void logit_adjust(const float* __restrict__ raw, float* __restrict__ processed, int n, const int* __restrict__ offsets,
    const int* __restrict__ entries)
{
    launch_next_grid();
    wait_for_previous_grid();
    const float* in = raw + (long long)blockIdx.x * n;
    float* out = processed + (long long)blockIdx.x * n;
    if ((n & 3) == 0)
    {
        const float4* in4 = (const float4*)in;
        float4* out4 = (float4*)out;
#pragma unroll 8
        for (int i = threadIdx.x; i < (n >> 2); i += blockDim.x) out4[i] = __ldg(in4 + i);
    }
    else
    {
#pragma unroll 8
        for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = in[i];
    }
    __syncthreads();
    for (int e = offsets[blockIdx.x] + threadIdx.x; e < offsets[blockIdx.x + 1]; e += blockDim.x)
    {
        const int* a = entries + 5 * (long long)e;
        int token = a[0];
        float l;
        if (a[1] != 0)
        {
            l = -INFINITY;
        }
        else
        {
            float repetition = __int_as_float(a[3]);
            l = __fadd_rn(in[token], __int_as_float(a[2]));
            if (repetition != 1.f) l = l > 0.f ? __fdiv_rn(l, repetition) : __fmul_rn(l, repetition);
            l = __fsub_rn(l, __int_as_float(a[4]));
        }
        out[token] = l;
    }
}
