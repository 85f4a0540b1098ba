using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Backends.Cuda.Ops;
using ReasoningServe.Inference.Model;

namespace ReasoningServe.Tests.Backends.Cuda;

/// <summary>
/// decode_step.cu's launch plan as Ops.DecodeStep works it out on the host (no GPU needed): the wide layout's group of
/// threads per row length, a block of whole down-projection groups, and as many ring slots as the shared memory left
/// beside attention's holds, on an H200's limits.
/// </summary>
public sealed class DecodeStepPlanTests
{
    private const int H200SharedBytes = 232448, H200Multiprocessors = 132, AttentionBytes = 49152, ChunksPerSlot = 5;

    private static ModelConfig Shape(int hidden, int inter, int heads, int kvHeads, int headDim) =>
        CpuDecodeBenchmark.Qwen25HalfBillion with
        {
            HiddenSize = hidden,
            IntermediateSize = inter,
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
        };

    [Theory]
    [InlineData(896, 4864, 14, 2, 64, 512, 4, 32, 128)]     // Qwen2.5-0.5B
    [InlineData(1536, 8960, 12, 2, 128, 448, 5, 64, 224)]   // Qwen2.5-1.5B
    [InlineData(3584, 18944, 28, 4, 128, 480, 4, 96, 480)]  // Qwen2.5-7B
    public void Qwen25_shapes_get_whole_groups_and_the_deepest_ring_that_fits(int hidden, int inter, int heads, int kvHeads, int headDim,
        int threads, int slots, int hiddenGroup, int interGroup)
    {
        DecodeStep.Plan plan = DecodeStep.PlanFor(Shape(hidden, inter, heads, kvHeads, headDim), H200SharedBytes, H200Multiprocessors)!.Value;
        Assert.Equal((threads, slots, hiddenGroup, hiddenGroup, interGroup), (plan.Threads, plan.Slots, plan.HiddenThreads, plan.QThreads, plan.InterThreads));
        Assert.Equal(AttentionBytes + slots * ChunksPerSlot * threads * 16, plan.SharedBytes);
        // one more slot would not leave room for the kernel's static shared memory
        Assert.True(plan.SharedBytes + ChunksPerSlot * threads * 16 > H200SharedBytes - 2048);
        Assert.All(new[] { plan.HiddenThreads, plan.QThreads, plan.InterThreads }, g => Assert.True(g % 32 == 0 && g <= plan.Threads));
        Assert.Equal(0, plan.Threads % plan.InterThreads);
    }

    [Fact]
    public void A_block_without_room_for_two_ring_slots_gets_no_plan()
    {
        ModelConfig qwen7B = Shape(3584, 18944, 28, 4, 128);
        int slot = ChunksPerSlot * 480 * 16, fixedBytes = AttentionBytes + 2048;
        Assert.Null(DecodeStep.PlanFor(qwen7B, fixedBytes + 2 * slot - 1, H200Multiprocessors));
        Assert.Equal(2, DecodeStep.PlanFor(qwen7B, fixedBytes + 2 * slot, H200Multiprocessors)!.Value.Slots);
        // rows too long for one block of the wide layout (more than 512 threads of 5 chunks)
        Assert.Null(DecodeStep.PlanFor(qwen7B with { IntermediateSize = 32 * 8 * 5 * 17 }, H200SharedBytes, H200Multiprocessors));
    }
}
