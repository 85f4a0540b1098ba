using ReasoningServe.Inference.Engine;

namespace ReasoningServe.Tests.Engine;

/// <summary>Stop conditions at the token level (no tokenizer: no text, no stop strings).</summary>
public class OutputProcessorTests
{
    private static readonly EngineOptions Options = new() { MaxModelLen = 12, EosTokenIds = [2] };

    [Fact]
    public void Max_tokens_finishes_with_length()
    {
        var processor = new OutputProcessor(Options);
        Sequence seq = Seqs.New([1, 1], new SamplingParams { MaxTokens = 2 });
        Assert.Null(processor.Process(seq, 5, null).FinishReason);
        CompletionDelta last = processor.Process(seq, 5, null);
        Assert.Equal("length", last.FinishReason);
        Assert.Null(last.StopReason);
    }

    [Fact]
    public void Reaching_max_model_len_finishes_with_length()
    {
        var processor = new OutputProcessor(Options);
        Sequence seq = Seqs.New(Seqs.Range(10, start: 3), new SamplingParams { MaxTokens = null });
        Assert.Null(processor.Process(seq, 5, null).FinishReason);
        Assert.Equal("length", processor.Process(seq, 5, null).FinishReason);
        Assert.Equal(12, seq.NumTokens);
    }

    [Fact]
    public void Eos_stops_with_a_null_stop_reason_unless_ignored()
    {
        var processor = new OutputProcessor(Options);
        CompletionDelta eos = processor.Process(Seqs.New([1]), 2, null);
        Assert.Equal("stop", eos.FinishReason);
        Assert.Null(eos.StopReason);
        Assert.Equal([2], eos.TokenIds);

        Assert.Null(processor.Process(Seqs.New([1], new SamplingParams { IgnoreEos = true }), 2, null).FinishReason);
    }

    [Fact]
    public void Stop_token_ids_stop_with_the_token_as_reason_but_not_before_min_tokens()
    {
        var processor = new OutputProcessor(Options);
        Sequence seq = Seqs.New([1], new SamplingParams { StopTokenIds = [9], MinTokens = 2 });
        Assert.Null(processor.Process(seq, 9, null).FinishReason);
        CompletionDelta second = processor.Process(seq, 9, null);
        Assert.Equal("stop", second.FinishReason);
        Assert.Equal(9, second.StopReason);
    }
}
