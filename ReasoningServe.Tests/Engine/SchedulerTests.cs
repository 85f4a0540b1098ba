using ReasoningServe.Inference.Engine;

namespace ReasoningServe.Tests.Engine;

/// <summary>Drives the real scheduler and block manager step by step, standing in for the model by appending a token
/// to every sequence that samples.</summary>
public class SchedulerTests
{
    [Fact]
    public void Long_prompt_is_prefilled_in_chunks_of_the_token_budget_and_samples_only_after_the_last_chunk()
    {
        (Scheduler scheduler, _) = Create(numBlocks: 16, maxBatchedTokens: 32);
        Sequence seq = Seqs.New(Seqs.Range(80));
        scheduler.Add(seq);

        Assert.Equal([(32, false)], Step(scheduler));
        Assert.Equal([(32, false)], Step(scheduler));
        Assert.Equal([(16, true)], Step(scheduler));
        Assert.Equal([(1, true)], Step(scheduler));
        Assert.Equal(82, seq.NumTokens);
        Assert.Equal(81, seq.NumComputedTokens);
    }

    [Fact]
    public void Decodes_go_first_and_a_new_prompt_gets_the_rest_of_the_budget()
    {
        (Scheduler scheduler, _) = Create(numBlocks: 32, maxBatchedTokens: 32);
        Sequence a = Seqs.New(Seqs.Range(10));
        Sequence b = Seqs.New(Seqs.Range(10, start: 100));
        scheduler.Add(a);
        Assert.Equal([(10, true)], Step(scheduler));
        scheduler.Add(b);
        Sequence c = Seqs.New(Seqs.Range(100, start: 200));
        scheduler.Add(c);

        Assert.Equal([(1, true), (10, true), (21, false)], Step(scheduler));
        Assert.Equal([(1, true), (1, true), (30, false)], Step(scheduler));
    }

    [Fact]
    public void Max_num_seqs_keeps_later_requests_waiting()
    {
        (Scheduler scheduler, _) = Create(numBlocks: 32, maxBatchedTokens: 64, maxNumSeqs: 2);
        for (int i = 0; i < 3; i++)
        {
            scheduler.Add(Seqs.New(Seqs.Range(4, start: 10 * i)));
        }
        Assert.Equal(2, Step(scheduler).Count);
        Assert.Equal(2, scheduler.NumRunning);
        Assert.Equal(1, scheduler.NumWaiting);
    }

    [Fact]
    public void Newest_running_sequence_is_preempted_when_blocks_run_out_and_later_recomputes_prompt_and_output()
    {
        // 4 blocks of 16 slots; two 30-token prompts take 2 blocks each, so the first decode past 32 tokens needs a fifth.
        (Scheduler scheduler, BlockManager blocks) = Create(numBlocks: 4, maxBatchedTokens: 64);
        Sequence older = Seqs.New(Seqs.Range(30));
        Sequence newer = Seqs.New(Seqs.Range(30, start: 500));
        scheduler.Add(older);
        scheduler.Add(newer);
        Assert.Equal([(30, true), (30, true)], Step(scheduler));
        Assert.Equal([(1, true), (1, true)], Step(scheduler));
        Assert.Equal([(1, true), (1, true)], Step(scheduler));

        // Both have 32 tokens computed and a 33rd to compute: the older one needs a third block and takes it from the newer.
        Assert.Equal([(1, true)], Step(scheduler, out List<Sequence> ran));
        Assert.Same(older, ran[0]);
        Assert.Equal(SequenceStatus.Preempted, newer.Status);
        Assert.Equal(1, scheduler.NumPreemptions);
        Assert.Equal(0, newer.NumComputedTokens);

        scheduler.Finish(older);
        Assert.Equal(4, blocks.NumFreeBlocks);

        // Recompute prompt + the 3 tokens it had generated, minus what the prefix cache kept: its tail block was the least
        // recently used free block and became the older sequence's third block, so only its first block is still cached.
        Assert.Equal([(33 - 16, true)], Step(scheduler));
        Assert.Equal(34, newer.NumTokens);
        scheduler.Finish(newer);
        Assert.Equal(4, blocks.NumFreeBlocks);
    }

    [Fact]
    public void Preempted_sequence_without_cached_blocks_recomputes_everything_in_one_pass()
    {
        var options = new EngineOptions { BlockSize = 16, MaxNumBatchedTokens = 64, MaxNumSeqs = 8, EnablePrefixCaching = false };
        var blocks = new BlockManager(4, 16, enablePrefixCaching: false);
        var scheduler = new Scheduler(options, blocks);
        Sequence older = Seqs.New(Seqs.Range(30));
        Sequence newer = Seqs.New(Seqs.Range(30, start: 500));
        scheduler.Add(older);
        scheduler.Add(newer);
        for (int i = 0; i < 4; i++)
        {
            Step(scheduler);
        }
        Assert.Equal(SequenceStatus.Preempted, newer.Status);
        scheduler.Finish(older);
        Assert.Equal([(33, true)], Step(scheduler));
    }

    [Fact]
    public void Finishing_or_aborting_sequences_anywhere_returns_every_block()
    {
        (Scheduler scheduler, BlockManager blocks) = Create(numBlocks: 8, maxBatchedTokens: 40);
        var seqs = new[] { Seqs.New(Seqs.Range(20)), Seqs.New(Seqs.Range(50, start: 100)), Seqs.New(Seqs.Range(5, start: 300)) };
        foreach (Sequence s in seqs)
        {
            scheduler.Add(s);
        }
        Step(scheduler);
        Assert.True(blocks.NumFreeBlocks < 8);
        foreach (Sequence s in seqs)
        {
            scheduler.Finish(s);
        }
        Assert.Equal(8, blocks.NumFreeBlocks);
        Assert.False(scheduler.HasUnfinished);
    }

    private static (Scheduler, BlockManager) Create(int numBlocks, int maxBatchedTokens, int maxNumSeqs = 16)
    {
        var options = new EngineOptions { BlockSize = 16, MaxNumBatchedTokens = maxBatchedTokens, MaxNumSeqs = maxNumSeqs };
        var blocks = new BlockManager(numBlocks, options.BlockSize, enablePrefixCaching: true);
        return (new Scheduler(options, blocks), blocks);
    }

    private static List<(int Tokens, bool Samples)> Step(Scheduler scheduler) => Step(scheduler, out _);

    private static List<(int Tokens, bool Samples)> Step(Scheduler scheduler, out List<Sequence> ran)
    {
        SchedulerOutput output = scheduler.Schedule();
        var result = new List<(int, bool)>();
        ran = [];
        for (int i = 0; i < output.Count; i++)
        {
            result.Add((output[i].NumTokens, output[i].Samples));
            ran.Add(output[i].Sequence);
        }
        var batch = output.ToForwardBatch(16);
        for (int i = 0; i < output.Count; i++)
        {
            Sequence seq = output[i].Sequence;
            Assert.Equal(seq.NumComputedTokens + output[i].NumTokens, batch.ContextLens[i]);
        }
        scheduler.CompleteStep(output);
        for (int i = 0; i < output.Count; i++)
        {
            if (output[i].Samples)
            {
                output[i].Sequence.AppendToken(7);
            }
        }
        return result;
    }
}
