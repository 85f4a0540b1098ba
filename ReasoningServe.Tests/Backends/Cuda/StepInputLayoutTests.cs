using ReasoningServe.Inference.Backends;
using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Ops;
using ReasoningServe.Tests.Backends.Cpu;

namespace ReasoningServe.Tests.Backends.Cuda;

/// <summary>
/// The CUDA backend's step inputs as packed on the host (no GPU needed): what each kernel reads per token and per
/// sequence, the padding that lets a captured CUDA graph replay a smaller decode batch, the prefill tiles and decode
/// list of a mixed step, and the refusals of batches that do not fit the KV cache.
/// </summary>
public sealed class StepInputLayoutTests
{
    private const int BlockSize = 4, NumBlocks = 64;

    /// <summary>Sequences given as (cached tokens, new tokens, block ids); new token ids count up from 1000.</summary>
    private static ForwardBatch Batch(params (int Cached, int New, int[] Blocks)[] seqs)
    {
        int next = 1000;
        var parts = seqs.Select((s, i) => new BatchBuilder.Part(i, Enumerable.Range(0, s.New).Select(_ => next++).ToArray(), s.Cached));
        return new BatchBuilder(BlockSize, seq => seqs[seq].Blocks).Build([.. parts]);
    }

    private static (StepInputLayout Layout, int[] Ints, (int MaxContext, int Tiles, int DecodeTokens) Result) Pack(
        ForwardBatch batch, int paddedSeqs = 0, int width = 0, bool tile = false)
    {
        var layout = StepInputLayout.For(batch, paddedSeqs == 0 ? batch.NumSeqs : paddedSeqs, width, tile);
        var ints = Enumerable.Repeat(-7, (int)layout.Ints).ToArray();
        var result = layout.Pack(batch, NumBlocks, BlockSize, ints);
        return (layout, ints, result);
    }

    private static int[] Read(int[] ints, long offset, int count) => ints.AsSpan((int)offset, count).ToArray();

    [Fact]
    public void A_mixed_step_gives_each_token_its_sequence_and_causal_context_and_each_sequence_its_last_token_and_table()
    {
        // a 3-token prefill chunk after 2 cached tokens, and a decode token after 5
        ForwardBatch batch = Batch((2, 3, [7, 9]), (5, 1, [3, 4]));
        var (layout, ints, result) = Pack(batch);

        Assert.Equal((4, 2, 2), (layout.Tokens, layout.Seqs, layout.MaxBlocks));
        Assert.Equal(batch.TokenIds, Read(ints, layout.TokenIds, 4));
        Assert.Equal([2, 3, 4, 5], Read(ints, layout.Positions, 4));
        Assert.Equal([7 * 4 + 2, 7 * 4 + 3, 9 * 4 + 0, 4 * 4 + 1], Read(ints, layout.Slots, 4));
        Assert.Equal([0, 0, 0, 1], Read(ints, layout.TokenSeq, 4));
        Assert.Equal([3, 4, 5, 6], Read(ints, layout.TokenContext, 4));
        Assert.Equal([2, 3], Read(ints, layout.LastTokens, 2));
        Assert.Equal([7, 9, 3, 4], Read(ints, layout.BlockTables, 4));
        Assert.Equal(6, result.MaxContext);
        Assert.Equal((0, 0), (result.Tiles, result.DecodeTokens));
        Assert.Equal(layout.Ints, layout.BlockTables + 4);
    }

    [Fact]
    public void A_decode_batch_padded_for_a_graph_fills_padding_rows_that_write_nothing_and_read_one_position()
    {
        ForwardBatch batch = Batch((5, 1, [3, 4]), (0, 1, [6]), (8, 1, [1, 2, 5]));
        var (layout, ints, _) = Pack(batch, paddedSeqs: 4, width: 8);

        Assert.Equal((4, 4, 8), (layout.Tokens, layout.Seqs, layout.MaxBlocks));
        Assert.Equal([.. batch.TokenIds, 0], Read(ints, layout.TokenIds, 4));
        Assert.Equal([5, 0, 8, 0], Read(ints, layout.Positions, 4));
        Assert.Equal(-1, Read(ints, layout.Slots, 4)[3]);
        Assert.Equal([0, 1, 2, 3], Read(ints, layout.TokenSeq, 4));
        Assert.Equal([6, 1, 9, 1], Read(ints, layout.TokenContext, 4));
        Assert.Equal([0, 1, 2, 3], Read(ints, layout.LastTokens, 4));
        int[] tables = Read(ints, layout.BlockTables, 32);
        Assert.Equal([3, 4, 0, 0, 0, 0, 0, 0], tables[..8]);
        Assert.Equal([1, 2, 5, 0, 0, 0, 0, 0], tables[16..24]);
        Assert.All(tables[24..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void Only_decode_batches_pad_and_tables_must_fit_the_fixed_width()
    {
        ForwardBatch prefill = Batch((0, 3, [2]));
        Assert.Throws<ArgumentException>(() => StepInputLayout.For(prefill, 2, 0, false));
        ForwardBatch decode = Batch((12, 1, [1, 2, 3, 4]));
        Assert.Throws<ArgumentException>(() => StepInputLayout.For(decode, 1, 2, false));
        Assert.Equal(4, StepInputLayout.For(decode, 1, 4, false).MaxBlocks);
    }

    [Fact]
    public void Tiling_cuts_prefill_chunks_into_64_token_tiles_within_a_sequence_and_lists_decode_tokens()
    {
        int[] Blocks(int n) => Enumerable.Range(0, n).ToArray();
        ForwardBatch batch = Batch((0, 130, Blocks(33)), (5, 1, [3, 4]), (0, 64, Blocks(16)), (0, 1, [9]));
        var (layout, ints, result) = Pack(batch, tile: true);

        Assert.Equal((4, 2), (result.Tiles, result.DecodeTokens));
        Assert.True(result.Tiles <= layout.MaxTiles);
        Assert.Equal([0, 64, 128, 131], Read(ints, layout.TileFirst, 4));
        Assert.Equal([64, 64, 2, 64], Read(ints, layout.TileCount, 4));
        Assert.Equal([130, 195], Read(ints, layout.DecodeTokens, 2));
        Assert.Equal(PrefillAttention.MaxTiles(196, 4), layout.MaxTiles);
    }

    [Fact]
    public void Batches_that_do_not_fit_the_cache_or_disagree_with_themselves_are_refused()
    {
        ForwardBatch slotOutside = Batch((0, 1, [NumBlocks]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Pack(slotOutside));
        ForwardBatch tableTooShort = Batch((3, 2, [1, 2]));
        tableTooShort.BlockTables[0] = [1];
        Assert.Throws<ArgumentException>(() => Pack(tableTooShort));
        ForwardBatch contextTooShort = Batch((0, 2, [1]));
        contextTooShort.ContextLens[0] = 1;
        Assert.Throws<ArgumentException>(() => Pack(contextTooShort));
        ForwardBatch blockOutside = Batch((4, 1, [1, 5]));
        blockOutside.BlockTables[0] = [1, 5, NumBlocks + 3];
        Assert.Throws<ArgumentException>(() => Pack(blockOutside));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 4)]
    [InlineData(4, 4)]
    [InlineData(5, 8)]
    [InlineData(9, 16)]
    [InlineData(64, 64)]
    [InlineData(65, 72)]
    public void Decode_batches_pad_to_graph_buckets_like_vllm(int seqs, int bucket) =>
        Assert.Equal(bucket, CudaBackend.GraphBatchBucket(seqs));

    [Fact]
    public void Attention_splits_fill_the_gpu_for_small_batches_but_never_exceed_the_context_tiles()
    {
        // 7B shape (28 q / 4 kv heads), 132 SMs
        Assert.Equal(64, GqaAttention.Splits(1, 28, 4, 32768, 132));
        Assert.Equal(3, GqaAttention.Splits(1, 28, 4, 300, 132));
        Assert.Equal(2, GqaAttention.Splits(64, 28, 4, 2048, 132));
        Assert.Equal(1, GqaAttention.Splits(2048, 28, 4, 2048, 132));
        // a 16-head group takes two blocks per kv head
        Assert.Equal(8, GqaAttention.Splits(1, 16, 1, 32768, 8));
    }

    [Fact]
    public void Decode_attention_splits_give_each_split_a_tile_from_eight_tiles_nine_for_one_token_on_up_to_thirty_two_splits_and_more_for_long_contexts()
    {
        // 7B shape (4 kv heads), 132 SMs: 198 blocks wanted, or 132 for a deep launch
        Assert.Equal(1, DecodeAttention.Splits(1, 4, 128, 132)); // 2 tiles: one split, no combine
        Assert.Equal(1, DecodeAttention.Splits(1, 4, 256, 132));
        Assert.Equal(1, DecodeAttention.Splits(1, 4, 512, 132)); // one token: one split up to 8 tiles (decode_attention_deep8)
        Assert.Equal(8, DecodeAttention.Splits(2, 4, 512, 132)); // two tokens: splits from 8 tiles
        Assert.Equal(16, DecodeAttention.Splits(1, 4, 1024, 132));
        Assert.Equal(32, DecodeAttention.Splits(1, 4, 4096, 132)); // 64 tiles, capped
        // 1.5B shape (2 kv heads): 99 blocks wanted per head, more than 32 splits only at 4 tiles each or more
        Assert.Equal(32, DecodeAttention.Splits(1, 2, 8192, 132)); // 128 tiles: 64 splits would keep 2 each
        Assert.Equal(64, DecodeAttention.Splits(1, 2, 16384, 132)); // 256 tiles: 4 each
        Assert.Equal(64, DecodeAttention.Splits(1, 2, 32768, 132)); // the long cap
        Assert.Equal(33, DecodeAttention.Splits(1, 4, 32768, 132)); // deep: one block an SM (50 would make 200 blocks)
        Assert.Equal(33, DecodeAttention.Splits(1, 4, 16384, 132)); // 256 tiles, 7 a split: still deep
        Assert.Equal(32, DecodeAttention.Splits(1, 4, 8192, 132)); // 128 tiles: capped at 32, 4 a split
        Assert.Equal(16, DecodeAttention.Splits(2, 4, 32768, 132)); // 8 blocks a split: 128, not ceil(132 / 8) = 17 (136)
        Assert.Equal(7, DecodeAttention.Splits(8, 4, 1024, 132)); // ceil(198 / 32) blocks per head
        Assert.Equal(1, DecodeAttention.Splits(64, 4, 1024, 132)); // 256 blocks already
    }

    [Fact]
    public void Decode_attention_takes_the_deep_rings_for_splits_of_four_tiles_or_more_and_one_token_over_eight_tiles()
    {
        Assert.False(DecodeAttention.UsesDeep(128, 1, tokens: 1)); // one short context
        Assert.False(DecodeAttention.UsesDeep(256, 1, tokens: 1)); // one token over 4 tiles in one split
        Assert.True(DecodeAttention.UsesDeep(512, 1, tokens: 1)); // over 8 tiles: deep (deep8, one block a KV head)
        Assert.False(DecodeAttention.UsesDeep(512, 1, tokens: 2));
        Assert.False(DecodeAttention.UsesDeep(1024, 1, tokens: 64)); // a large batch keeps one split of many tiles
        Assert.False(DecodeAttention.UsesDeep(4096, 32, tokens: 1)); // 2 tiles a split
        Assert.True(DecodeAttention.UsesDeep(8192, 32, tokens: 1));
        Assert.True(DecodeAttention.UsesDeep(32768, 64, tokens: 1));
    }

    [Fact]
    public void Deep_launches_take_eight_warps_only_where_their_blocks_fit_one_an_sm()
    {
        int splits = DecodeAttention.Splits(1, 2, 32768, 132);
        Assert.True(DecodeAttention.UsesDeep8(1 * 2 * splits, 132)); // a 1.5B token over 32768 positions: 128 blocks
        Assert.True(DecodeAttention.UsesDeep8(132, 132));
        Assert.True(DecodeAttention.UsesDeep8(1 * 4 * DecodeAttention.Splits(1, 4, 32768, 132), 132)); // a 7B token: 33 splits, 132 blocks
        Assert.False(DecodeAttention.UsesDeep8(200, 132)); // two waves
        Assert.False(DecodeAttention.UsesDeep8(1, 0)); // no device count given: never
    }
}
