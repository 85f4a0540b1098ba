using System.Text.Json;
using ReasoningServe.Inference.Tokenization;
using ReasoningServe.Tests.Serving;

namespace ReasoningServe.Tests.Tokenization;

/// <summary>Encoding and decoding equal the HF `tokenizers` library on the real tokenizers (testdata/goldens/tokenizers).</summary>
public class TokenizerGoldenTests
{
    public static TheoryData<string> Names => new() { "qwen3", "deepseek_v3", "llama3_1" };

    [SkippableTheory]
    [MemberData(nameof(Names))]
    public void Encodes_and_decodes_every_golden_text_like_hf_tokenizers(string name)
    {
        Tokenizer tokenizer = TestData.RealTokenizer(name);
        using JsonDocument golden = Golden(name);
        Assert.Equal(golden.RootElement.GetProperty("vocab_size").GetInt32(), tokenizer.VocabSize);
        foreach (JsonElement c in golden.RootElement.GetProperty("cases").EnumerateArray())
        {
            string text = c.GetProperty("text").GetString()!;
            int[] ids = Ints(c.GetProperty("ids"));
            int[] idsWithSpecial = Ints(c.GetProperty("ids_with_special"));
            AssertIds(ids, tokenizer.Encode(text, addSpecialTokens: false), text);
            AssertIds(idsWithSpecial, tokenizer.Encode(text, addSpecialTokens: true), text);
            Assert.Equal(c.GetProperty("decoded").GetString(), tokenizer.Decode(idsWithSpecial));
            Assert.Equal(c.GetProperty("decoded_skip_special").GetString(), tokenizer.Decode(idsWithSpecial, skipSpecialTokens: true));
            string?[] tokens = c.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()).ToArray();
            Assert.Equal(tokens, ids.Select(tokenizer.IdToToken).ToArray());
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Names))]
    public void Decodes_arbitrary_id_sequences_and_split_characters_like_hf_tokenizers(string name)
    {
        Tokenizer tokenizer = TestData.RealTokenizer(name);
        using JsonDocument golden = Golden(name);
        foreach (JsonElement c in golden.RootElement.GetProperty("decode_cases").EnumerateArray())
        {
            int[] ids = Ints(c.GetProperty("ids"));
            Assert.Equal(c.GetProperty("decoded").GetString(), tokenizer.Decode(ids));
            Assert.Equal(c.GetProperty("decoded_skip_special").GetString(), tokenizer.Decode(ids, skipSpecialTokens: true));
        }
    }

    private static JsonDocument Golden(string name)
    {
        string path = Path.Combine(TestData.Root, "testdata", "goldens", "tokenizers", name + ".json");
        Skip.IfNot(File.Exists(path), $"{path} is missing: run tools/goldens/make_goldens.py on the GPU machine");
        return JsonDocument.Parse(File.ReadAllBytes(path));
    }

    private static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    private static void AssertIds(int[] expected, int[] actual, string text)
    {
        int at = 0;
        while (at < Math.Min(expected.Length, actual.Length) && expected[at] == actual[at])
        {
            at++;
        }
        Assert.True(expected.SequenceEqual(actual),
            $"text {JsonSerializer.Serialize(text)}: first difference at token {at}: expected [{string.Join(',', expected.Skip(at).Take(6))}] got [{string.Join(',', actual.Skip(at).Take(6))}]");
    }
}
