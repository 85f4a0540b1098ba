using ReasoningServe.Inference.Serving;
using ReasoningServe.Inference.Serving.Reasoning;

namespace ReasoningServe.Tests.Serving.Reasoning;

/// <summary>
/// The parsers' state machines on hand-made (ids, text) deltas, where the tag ids are arbitrary: what matters is that
/// tags are recognised by id and cut by text.
/// </summary>
public class ReasoningParserStateMachineTests
{
    private const int Start = 7, End = 8, Word = 100;

    private static IReasoningParser Parser(string name) => ReasoningParserFactory.Create(name, Start, End);

    private static (string? Reasoning, string? Content) Stream(IReasoningParser parser, params (int[] Ids, string Text)[] deltas)
    {
        var stream = parser.StartStream();
        string? reasoning = null, content = null;
        foreach (var (ids, text) in deltas)
        {
            var d = stream.Next(ids, text);
            if (d.Reasoning is not null)
            {
                reasoning += d.Reasoning;
            }
            if (d.Content is not null)
            {
                content += d.Content;
            }
        }
        return (reasoning, content);
    }

    [Theory]
    [InlineData("deepseek_r1")]
    [InlineData("qwen3")]
    public void A_delta_that_is_only_a_tag_emits_nothing(string name)
    {
        var stream = Parser(name).StartStream();
        Assert.True(stream.Next([Start], "<think>").IsEmpty);
        Assert.Equal("x", stream.Next([Word], "x").Reasoning);
        Assert.True(stream.Next([End], "</think>").IsEmpty);
        Assert.Equal("y", stream.Next([Word], "y").Content);
    }

    [Theory]
    [InlineData("deepseek_r1")]
    [InlineData("qwen3")]
    public void Output_before_the_end_tag_is_reasoning_when_the_template_opened_the_section(string name)
    {
        var (reasoning, content) = Stream(Parser(name), ([Word], "Hmm"), ([Word + 1], ", ok"), ([End], "</think>"), ([Word + 2], "Answer"));
        Assert.Equal("Hmm, ok", reasoning);
        Assert.Equal("Answer", content);
        Assert.Equal(new ReasoningSplit("Hmm, ok", "Answer"), Parser(name).Extract("Hmm, ok</think>Answer", thinkingEnabled: true));
    }

    [Theory]
    [InlineData("deepseek_r1")]
    [InlineData("qwen3")]
    public void Text_cut_off_before_the_end_tag_stays_reasoning(string name)
    {
        Assert.Equal(("still thinking", (string?)null), Stream(Parser(name), ([Start], "<think>"), ([Word, Word + 1], "still thinking")));
        Assert.Equal(new ReasoningSplit("still thinking", null), Parser(name).Extract("<think>still thinking", thinkingEnabled: true));
    }

    [Theory]
    [InlineData("deepseek_r1")]
    [InlineData("qwen3")]
    public void One_delta_holding_both_tags_splits_without_leaking_tags(string name)
    {
        var d = Parser(name).StartStream().Next([Start, Word, End, Word + 1], "<think>why</think>because");
        Assert.Equal("why", d.Reasoning);
        Assert.Equal("because", d.Content);
    }

    [Fact]
    public void Qwen3_with_thinking_disabled_is_all_content_without_an_end_tag()
    {
        Assert.Equal(new ReasoningSplit(null, "plain answer"), Parser("qwen3").Extract("plain answer", thinkingEnabled: false));
        Assert.Equal(new ReasoningSplit("plain answer", null), Parser("deepseek_r1").Extract("plain answer", thinkingEnabled: false));
    }

    [Fact]
    public void Reasoning_end_is_the_last_think_tag_of_the_prompt()
    {
        var parser = Parser("qwen3");
        Assert.True(parser.IsReasoningEnd([1, Start, 2, End, 3]));
        Assert.False(parser.IsReasoningEnd([1, End, 2, Start, 3]));
        Assert.False(parser.IsReasoningEnd([1, 2, 3]));
    }

    [Fact]
    public void Reasoning_tokens_exclude_the_tags_and_stop_at_the_end_tag()
    {
        Assert.Equal(3, Parser("qwen3").CountReasoningTokens([Start, Word, Word, Word, End, Word], thinkingEnabled: true));
        Assert.Equal(2, Parser("deepseek_r1").CountReasoningTokens([Word, Word], thinkingEnabled: true));
        Assert.Equal(0, Parser("qwen3").CountReasoningTokens([Word, Word], thinkingEnabled: false));
    }

    [Fact]
    public void A_prompt_that_closed_the_think_section_makes_everything_content()
    {
        var routing = new ChoiceReasoning(Parser("qwen3"), [1, Start, End, 2], thinkingEnabled: false, includeReasoning: true);
        Assert.Equal(new ReasoningSplit(null, "a</think>b"), routing.Split("a</think>b"));
        Assert.Equal("a", routing.Next(routing.StartStream(), [Word], "a").Content);
        Assert.Equal(0, routing.CountReasoningTokens([Word, End, Word]));
    }

    [Fact]
    public void Include_reasoning_false_drops_the_reasoning()
    {
        var routing = new ChoiceReasoning(Parser("deepseek_r1"), [1, Start], thinkingEnabled: true, includeReasoning: false);
        Assert.Equal(new ReasoningSplit(null, "b"), routing.Split("a</think>b"));
        var stream = routing.StartStream();
        Assert.True(routing.Next(stream, [Word], "a").IsEmpty);
        Assert.True(routing.Next(stream, [End], "</think>").IsEmpty);
        Assert.Equal("b", routing.Next(stream, [Word], "b").Content);
    }

    [Fact]
    public void Unknown_parser_or_missing_think_tokens_are_refused_by_name()
    {
        Assert.Contains("deepseek_r1, qwen3", Assert.Throws<ArgumentException>(() => ReasoningParserFactory.Create("granite", Start, End)).Message);
        Assert.Contains("<think>", Assert.Throws<InvalidOperationException>(() => ReasoningParserFactory.Create("qwen3", null, End)).Message);
    }
}
