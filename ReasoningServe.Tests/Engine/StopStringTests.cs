using ReasoningServe.Inference.Engine;
using ReasoningServe.Inference.Tokenization;
using ReasoningServe.Tests.Serving;

namespace ReasoningServe.Tests.Engine;

/// <summary>Stop strings on real Qwen3 tokens: matches that span token boundaries, text held back and released.</summary>
public class StopStringTests
{
    private const string Text = "Hello world, this is the END of the story.";

    [SkippableTheory]
    [InlineData("the END", false)]
    [InlineData("the END", true)]
    [InlineData("lo wor", false)]
    [InlineData("story.", true)]
    public void Stop_string_spanning_tokens_cuts_the_text_and_streams_only_text_before_it(string stop, bool include)
    {
        Tokenizer tokenizer = TestData.RealTokenizer("qwen3");
        int[] ids = tokenizer.Encode(Text);
        var p = new SamplingParams { Stop = [stop, "never appears"], IncludeStopStrInOutput = include, MaxTokens = 100 };
        (List<CompletionDelta> deltas, int fed) = Feed(tokenizer, ids, p);

        int at = Text.IndexOf(stop, StringComparison.Ordinal);
        string expected = Text[..(include ? at + stop.Length : at)];
        Assert.Equal(expected, string.Concat(deltas.Select(d => d.Text)));
        Assert.Equal("stop", deltas[^1].FinishReason);
        Assert.Equal(stop, deltas[^1].StopReason);
        // It stopped on the token that completed the stop string, not later.
        Assert.Contains(stop, tokenizer.Decode(ids.AsSpan(0, fed)));
        Assert.DoesNotContain(stop, tokenizer.Decode(ids.AsSpan(0, fed - 1)));
    }

    [SkippableFact]
    public void Text_that_only_looked_like_a_stop_string_is_released()
    {
        Tokenizer tokenizer = TestData.RealTokenizer("qwen3");
        int[] ids = tokenizer.Encode(Text);
        var p = new SamplingParams { Stop = ["the ENDING"], MaxTokens = ids.Length };
        (List<CompletionDelta> deltas, int fed) = Feed(tokenizer, ids, p);

        Assert.Equal(ids.Length, fed);
        Assert.Equal(Text, string.Concat(deltas.Select(d => d.Text)));
        Assert.Equal("length", deltas[^1].FinishReason);
        // While "the END" could still become "the ENDING", the streamed text stopped right before it.
        int endToken = Enumerable.Range(1, ids.Length).First(n => tokenizer.Decode(ids.AsSpan(0, n)).Contains("the END"));
        Assert.Equal(Text[..Text.IndexOf("the END", StringComparison.Ordinal)], string.Concat(deltas.Take(endToken).Select(d => d.Text)));
    }

    private static (List<CompletionDelta>, int) Feed(Tokenizer tokenizer, int[] ids, SamplingParams p)
    {
        var processor = new OutputProcessor(new EngineOptions { MaxModelLen = 1024 });
        var seq = new Sequence("r", 0, [1], p, rng: null, new IncrementalDetokenizer(tokenizer, p.SkipSpecialTokens));
        var deltas = new List<CompletionDelta>();
        foreach (int id in ids)
        {
            deltas.Add(processor.Process(seq, id, null));
            if (seq.FinishReason is not null)
            {
                break;
            }
        }
        return (deltas, deltas.Count);
    }
}
