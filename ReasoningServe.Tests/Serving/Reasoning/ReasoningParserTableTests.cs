using ReasoningServe.Inference.Serving.Reasoning;
using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Tests.Serving.Reasoning;

/// <summary>
/// vLLM's parser test tables (deepseek_r1 and qwen3: simple, complete, no end, multi-line, shortest, with think, think
/// no end, empty, new line; multi-token deltas), run on the real Qwen3 tokenizer: streaming feeds one token per delta
/// (ids and their decoded text) as vLLM's harness does. The deepseek_r1 cases use the Qwen3 vocabulary too, as vLLM's
/// use DeepSeek-R1-Distill-Qwen's: DeepSeek-V3's own tokenizer has no &lt;think&gt; token (see the last test).
/// </summary>
public class ReasoningParserTableTests
{
    private const string R = "This is a reasoning section";
    private const string Rest = "This is the rest";

    public static TheoryData<string, bool, string, string?, string?> DeepSeekR1Cases => new()
    {
        { "simple_reasoning", false, R + "</think>" + Rest, R, Rest },
        { "simple_reasoning_streaming", true, R + "</think>" + Rest, R, Rest },
        { "complete_reasoning", false, R + "</think>", R, null },
        { "complete_reasoning_streaming", true, R + "</think>", R, null },
        { "no_content_token", false, "This is content", "This is content", null },
        { "no_reasoning_token_streaming", true, R, R, null },
        { "multiple_lines", false, "This\nThat</think>" + Rest + "\nThat", "This\nThat", Rest + "\nThat" },
        { "multiple_lines_streaming", true, "This\nThat</think>" + Rest + "\nThat", "This\nThat", Rest + "\nThat" },
        { "shortest", true, "</think>" + Rest, null, Rest },
        { "shortest_non_streaming", false, "</think>" + Rest, "", Rest },
        { "reasoning_with_think", false, "<think>" + R + "</think>" + Rest, R, Rest },
        { "reasoning_with_think_streaming", true, "<think>" + R + "</think>" + Rest, R, Rest },
        { "complete_reasoning_with_think", false, "<think>" + R + "</think>", R, null },
        { "complete_reasoning_with_think_streaming", true, "<think>" + R + "</think>", R, null },
        { "multiple_lines_with_think", false, "<think>This\nThat</think>" + Rest + "\nThat", "This\nThat", Rest + "\nThat" },
        { "multiple_lines_with_think_streaming", true, "<think>This\nThat</think>" + Rest + "\nThat", "This\nThat", Rest + "\nThat" },
        { "think_no_end", false, "<think>" + R, R, null },
        { "think_no_end_streaming", true, "<think>" + R, R, null },
        { "empty", false, "", "", null },
        { "empty_streaming", true, "", null, null },
        { "new_line", false, "\n<think>" + R + "</think>\n" + Rest, R, "\n" + Rest },
        // Streaming cannot know whether text before <think> is reasoning; like vLLM it keeps it as reasoning.
        { "new_line_streaming", true, "\n<think>" + R + "</think>\n" + Rest, "\n" + R, "\n" + Rest },
    };

    public static TheoryData<string, bool, string, string?, string?> Qwen3Cases => new()
    {
        { "without_start_token", false, R + "</think>" + Rest, R, Rest },
        { "without_start_token_stream", true, R + "</think>" + Rest, R, Rest },
        { "without_start_token_complete_reasoning", false, R + "</think>", R, null },
        { "without_start_token_complete_reasoning_stream", true, R + "</think>", R, null },
        { "with_think", false, "<think>" + R + "</think>" + Rest, R, Rest },
        { "with_think_stream", true, "<think>" + R + "</think>" + Rest, R, Rest },
        { "without_think", false, Rest, Rest, null },
        { "without_think_stream", true, Rest, Rest, null },
        { "complete_reasoning", false, "<think>" + R + "</think>", R, null },
        { "complete_reasoning_stream", true, "<think>" + R + "</think>", R, null },
        { "multiline_reasoning", false, "<think>This is a reasoning\nsection</think>" + Rest + "\nThat", "This is a reasoning\nsection", Rest + "\nThat" },
        { "multiline_reasoning_stream", true, "<think>This is a reasoning\nsection</think>" + Rest + "\nThat", "This is a reasoning\nsection", Rest + "\nThat" },
        { "only_open_tag", false, "<think>" + R, R, null },
        { "only_open_tag_stream", true, "<think>" + R, R, null },
        { "truncated_no_start_token", false, R, R, null },
        { "truncated_no_start_token_stream", true, R, R, null },
        { "shortest", false, "</think>" + Rest, "", Rest },
        { "shortest_stream", true, "</think>" + Rest, null, Rest },
        { "empty", false, "", "", null },
        { "empty_stream", true, "", null, null },
        { "new_line", false, "\n<think>" + R + "</think>\n" + Rest, R, "\n" + Rest },
        { "new_line_stream", true, "\n<think>" + R + "</think>\n" + Rest, "\n" + R, "\n" + Rest },
    };

    public static TheoryData<string, string[], string?, string?> MultiTokenDeltaCases => new()
    {
        { "start_token_grouped_with_text", ["<think>" + R, "</think>", Rest], R, Rest },
        { "end_token_grouped_with_content", ["reasoning section", "</think>" + Rest], "reasoning section", Rest },
        { "start_and_end_in_one_delta_no_content", ["<think>reasoning</think>"], "reasoning", null },
        { "no_start_end_grouped_with_content", ["reasoning section", "</think>content"], "reasoning section", "content" },
    };

    [SkippableTheory]
    [MemberData(nameof(DeepSeekR1Cases))]
    public void DeepSeekR1_table(string name, bool streaming, string output, string? reasoning, string? content) =>
        AssertCase("deepseek_r1", name, streaming, output, reasoning, content);

    [SkippableTheory]
    [MemberData(nameof(Qwen3Cases))]
    public void Qwen3_table(string name, bool streaming, string output, string? reasoning, string? content) =>
        AssertCase("qwen3", name, streaming, output, reasoning, content);

    [SkippableTheory]
    [MemberData(nameof(MultiTokenDeltaCases))]
    public void Multi_token_deltas_do_not_leak_tags(string name, string[] deltas, string? reasoning, string? content)
    {
        var tokenizer = TestData.RealTokenizer("qwen3");
        foreach (var parserName in ReasoningParserFactory.Names)
        {
            var stream = ReasoningParserFactory.Create(parserName, tokenizer).StartStream();
            string? gotReasoning = null, gotContent = null;
            foreach (var delta in deltas)
            {
                Accumulate(stream.Next(tokenizer.Encode(delta), delta), ref gotReasoning, ref gotContent);
            }
            Assert.True((reasoning, content) == (gotReasoning, gotContent), $"{parserName}/{name}: got ({gotReasoning}, {gotContent})");
        }
    }

    [SkippableTheory]
    [InlineData("This is plain content")]
    [InlineData("Some output without think tokens")]
    public void Qwen3_with_thinking_disabled_is_content(string output)
    {
        var parser = ReasoningParserFactory.Create("qwen3", TestData.RealTokenizer("qwen3"));
        Assert.Equal(new ReasoningSplit(null, output), parser.Extract(output, thinkingEnabled: false));
    }

    [SkippableFact]
    public void Think_tags_are_single_tokens_of_the_qwen3_vocabulary()
    {
        var tokenizer = TestData.RealTokenizer("qwen3");
        Assert.Equal([151667, 151668], tokenizer.Encode("<think></think>"));
    }

    [SkippableFact]
    public void DeepSeekV3_tokenizer_without_think_tokens_is_refused_at_start_up()
    {
        var tokenizer = TestData.RealTokenizer("deepseek_v3");
        var error = Assert.Throws<InvalidOperationException>(() => ReasoningParserFactory.Create("deepseek_r1", tokenizer));
        Assert.Contains("single tokens", error.Message);
    }

    private static void AssertCase(string parserName, string name, bool streaming, string output, string? reasoning, string? content)
    {
        var tokenizer = TestData.RealTokenizer("qwen3");
        var parser = ReasoningParserFactory.Create(parserName, tokenizer);
        var got = streaming ? RunStreaming(parser, tokenizer, output) : ToTuple(parser.Extract(output, thinkingEnabled: true));
        Assert.True((reasoning, content) == got, $"{parserName}/{name}: expected ({reasoning}, {content}), got ({got.Item1}, {got.Item2})");
    }

    private static (string?, string?) RunStreaming(IReasoningParser parser, Tokenizer tokenizer, string output)
    {
        var stream = parser.StartStream();
        string? reasoning = null, content = null;
        foreach (var id in tokenizer.Encode(output))
        {
            Accumulate(stream.Next([id], tokenizer.Decode([id])), ref reasoning, ref content);
        }
        return (reasoning, content);
    }

    private static void Accumulate(ReasoningDelta delta, ref string? reasoning, ref string? content)
    {
        if (delta.Reasoning is not null)
        {
            reasoning += delta.Reasoning;
        }
        if (delta.Content is not null)
        {
            content += delta.Content;
        }
    }

    private static (string?, string?) ToTuple(ReasoningSplit split) => (split.Reasoning, split.Content);
}
