using System.Text;
using ReasoningServe.Inference.Tokenization;
using ReasoningServe.Tests.Serving;

namespace ReasoningServe.Tests.Tokenization;

public class IncrementalDetokenizerTests
{
    public static TheoryData<string> Names => new() { "qwen3", "deepseek_v3", "llama3_1" };

    private const string Text =
        "Emoji 🤖👨‍👩‍👧‍👦 and 中文, e\u0301, 🇺🇳 <think>\nreasoning</think>\n\nanswer<|im_end|> done 👍🏽";

    [SkippableTheory]
    [MemberData(nameof(Names))]
    public void Deltas_concatenate_to_the_full_decode_and_never_split_a_character(string name)
    {
        Tokenizer tokenizer = TestData.RealTokenizer(name);
        int[] ids = tokenizer.Encode(Text);
        foreach (bool skip in new[] { false, true })
        {
            var detokenizer = new IncrementalDetokenizer(tokenizer, skip);
            var streamed = new StringBuilder();
            for (int i = 0; i < ids.Length; i++)
            {
                string delta = detokenizer.Add(ids[i]);
                Assert.DoesNotContain('\uFFFD', delta);
                Assert.False(delta.Length > 0 && char.IsHighSurrogate(delta[^1]), "a delta ended inside a surrogate pair");
                streamed.Append(delta);
                string full = tokenizer.Decode(ids.AsSpan(0, i + 1), skip);
                // Whatever was emitted is a prefix of the full decode; once that decode ends in a whole character, all of it is out.
                Assert.StartsWith(streamed.ToString(), full, StringComparison.Ordinal);
                if (!full.EndsWith('\uFFFD'))
                {
                    Assert.Equal(full, streamed.ToString());
                }
            }
            Assert.Equal(tokenizer.Decode(ids, skip), detokenizer.Text);
        }
    }

    [SkippableFact]
    public void Emoji_split_over_byte_tokens_comes_out_only_when_complete()
    {
        Tokenizer tokenizer = TestData.RealTokenizer("qwen3");
        // A hieroglyph is rare enough to have no token of its own: its 4 UTF-8 bytes take several byte-level tokens.
        int[] ids = tokenizer.Encode("𓀀");
        Assert.True(ids.Length > 1, "U+13000 should take several byte-level tokens in Qwen3");
        var detokenizer = new IncrementalDetokenizer(tokenizer, skipSpecialTokens: true);
        for (int i = 0; i < ids.Length - 1; i++)
        {
            Assert.Equal("", detokenizer.Add(ids[i]));
        }
        Assert.Equal("𓀀", detokenizer.Add(ids[^1]));
    }
}
