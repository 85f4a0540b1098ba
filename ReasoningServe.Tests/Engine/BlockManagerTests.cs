using ReasoningServe.Inference.Engine;

namespace ReasoningServe.Tests.Engine;

public class BlockManagerTests
{
    private const int BlockSize = 16;

    [Fact]
    public void Same_48_token_prompt_reuses_two_full_blocks_leaving_the_last_block_to_compute()
    {
        var blocks = new BlockManager(numBlocks: 16, BlockSize, enablePrefixCaching: true);
        int[] prompt = Prompt(48, seed: 1);
        Sequence first = Seqs.New(prompt);
        Prefill(blocks, first);

        Sequence second = Seqs.New(prompt);
        var hits = new List<int>();
        blocks.FindCachedPrefix(second, hits);
        Assert.True(blocks.AllocateWithPrefix(second, hits, second.NumTokens - hits.Count * BlockSize));

        // The third block is full and cached too, but taking it would leave no token to compute logits from.
        Assert.Equal(first.BlockTable.Take(2), hits);
        Assert.Equal(32, second.NumComputedTokens);
        Assert.Equal(32, second.NumCachedPromptTokens);
        Assert.Equal(48 + 48, blocks.PrefixCacheQueries);
        Assert.Equal(32, blocks.PrefixCacheHits);
    }

    [Fact]
    public void A_49_token_prompt_reuses_all_three_full_blocks()
    {
        var blocks = new BlockManager(numBlocks: 16, BlockSize, enablePrefixCaching: true);
        int[] prompt = Prompt(49, seed: 2);
        Prefill(blocks, Seqs.New(prompt));

        Sequence second = Seqs.New(prompt);
        var hits = new List<int>();
        blocks.FindCachedPrefix(second, hits);
        Assert.Equal(3, hits.Count);
    }

    [Fact]
    public void Equal_blocks_after_different_prefixes_do_not_hit()
    {
        var blocks = new BlockManager(numBlocks: 16, BlockSize, enablePrefixCaching: true);
        int[] a = Prompt(40, seed: 3);
        int[] b = (int[])a.Clone();
        b[0]++;
        Prefill(blocks, Seqs.New(a));

        var hits = new List<int>();
        blocks.FindCachedPrefix(Seqs.New(b), hits);
        Assert.Empty(hits);
    }

    [Fact]
    public void Shared_blocks_return_to_the_free_list_only_when_the_last_user_frees_them()
    {
        var blocks = new BlockManager(numBlocks: 16, BlockSize, enablePrefixCaching: true);
        int[] prompt = Prompt(40, seed: 4);
        Sequence first = Seqs.New(prompt);
        Prefill(blocks, first);
        Sequence second = Seqs.New(prompt);
        Prefill(blocks, second);
        Assert.Equal(first.BlockTable.Take(2), second.BlockTable.Take(2));
        Assert.Equal(16 - 4, blocks.NumFreeBlocks);

        blocks.Free(first);
        Assert.Equal(16 - 3, blocks.NumFreeBlocks);
        blocks.Free(second);
        Assert.Equal(16, blocks.NumFreeBlocks);
    }

    [Fact]
    public void Freed_cached_blocks_stay_findable_and_the_least_recently_used_is_evicted_first()
    {
        var blocks = new BlockManager(numBlocks: 4, BlockSize, enablePrefixCaching: true);
        int[] a = Prompt(33, seed: 5);
        Sequence first = Seqs.New(a);
        Prefill(blocks, first);
        blocks.Free(first);
        Assert.Equal(4, blocks.NumFreeBlocks);

        var hits = new List<int>();
        blocks.FindCachedPrefix(Seqs.New(a), hits);
        Assert.Equal(2, hits.Count);

        // Three fresh blocks: the unhashed one and the never used one go first, then the LRU cached block, which is the
        // sequence's tail (freed before its head).
        Sequence other = Seqs.New(Prompt(33, seed: 6));
        Prefill(blocks, other);
        blocks.FindCachedPrefix(Seqs.New(a), hits);
        Assert.Single(hits);
        blocks.Free(other);
        Assert.Equal(4, blocks.NumFreeBlocks);
    }

    [Fact]
    public void Allocation_that_does_not_fit_changes_nothing()
    {
        var blocks = new BlockManager(numBlocks: 3, BlockSize, enablePrefixCaching: true);
        Sequence seq = Seqs.New(Prompt(49, seed: 7));
        Assert.False(blocks.AllocateWithPrefix(seq, [], 49));
        Assert.Empty(seq.BlockTable);
        Assert.Equal(3, blocks.NumFreeBlocks);
        Assert.Equal(0, blocks.PrefixCacheQueries);
    }

    [Fact]
    public void Without_prefix_caching_nothing_is_found_or_counted()
    {
        var blocks = new BlockManager(numBlocks: 16, BlockSize, enablePrefixCaching: false);
        int[] prompt = Prompt(48, seed: 8);
        Prefill(blocks, Seqs.New(prompt));
        var hits = new List<int>();
        blocks.FindCachedPrefix(Seqs.New(prompt), hits);
        Assert.Empty(hits);
        Assert.Equal(0, blocks.PrefixCacheQueries);
    }

    /// <summary>Allocates and "computes" the whole prompt, as one step of the engine would.</summary>
    private static void Prefill(BlockManager blocks, Sequence seq)
    {
        var hits = new List<int>();
        blocks.FindCachedPrefix(seq, hits);
        int n = seq.NumTokens - hits.Count * BlockSize;
        Assert.True(blocks.AllocateWithPrefix(seq, hits, n));
        seq.NumComputedTokens += n;
        blocks.CacheFullBlocks(seq);
    }

    private static int[] Prompt(int length, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => rng.Next(1000)).ToArray();
    }
}
