// Merges gqa_attention's context splits of one (token, head): each split s left an unnormalized accumulator a_s with
// its running max m_s and sum l_s, so with M = max m_s and w_s = e^(m_s - M):
//   o = sum_s w_s a_s / sum_s w_s l_s          (a split without keys has m_s = -inf: weight 0)
// tokenList (optional): the tokens gqa_attention processed, as there. grid: (tokens, heads), block: 128.
#include "attention_combine.cuh"

extern "C" __global__ void attention_combine(const float* __restrict__ partialOut, const float* __restrict__ partialMax,
    const float* __restrict__ partialSum, bf16* __restrict__ out, const int* __restrict__ tokenList, int heads, int headDim, int splits)
{
    launch_next_grid();
    wait_for_previous_grid();
    __shared__ float weight[MAX_SPLITS];
    __shared__ float total;
    long long row = (long long)(tokenList == nullptr ? blockIdx.x : tokenList[blockIdx.x]) * heads + blockIdx.y;
    if (threadIdx.x < 32)
    {
        float sum = combine_weights(partialMax, partialSum, row, splits, weight);
        if (threadIdx.x == 0) total = sum;
    }
    __syncthreads();
    float inverse = 1.f / total;
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) out[row * headDim + d] = combine_element(partialOut, row, headDim, splits, weight, inverse, d);
}
