using System.Text;
using System.Text.Json;
using ReasoningServe.Inference.Tokenization;
using ReasoningServe.Tests.Serving;

namespace ReasoningServe.Tests.Tokenization;

/// <summary>The queue-based merge loop gives exactly what the textbook BPE loop gives, on the real vocabularies.</summary>
public class BytePairEncoderTests
{
    public static TheoryData<string> Names => new() { "qwen3", "deepseek_v3", "llama3_1" };

    [SkippableTheory]
    [MemberData(nameof(Names))]
    public void Merges_equal_the_textbook_lowest_rank_first_loop(string name)
    {
        var (vocab, merges) = ReadModel(name);
        var encoder = new BytePairEncoder(vocab, merges, ignoreMerges: false);
        var reference = new TextbookBpe(vocab, merges);

        foreach (string text in Words())
        {
            string word = ByteLevel.Encode(Encoding.UTF8.GetBytes(text));
            var ids = new List<int>();
            encoder.Encode(word, ids);
            int[] expected = reference.Encode(word);
            Assert.True(expected.SequenceEqual(ids),
                $"{name}: \"{text[..Math.Min(40, text.Length)]}\" ({text.Length} chars): expected [{string.Join(",", expected.Take(12))}…], got [{string.Join(",", ids.Take(12))}…]");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Names))]
    public void A_ten_thousand_character_run_without_split_points_round_trips(string name)
    {
        // One \p{L}+ pre-token of 30,000 bytes: the case that made a rescanning merge loop take about a second.
        Tokenizer tokenizer = TestData.RealTokenizer(name);
        var random = new Random(11);
        string text = new(Enumerable.Range(0, 10_000).Select(_ => (char)random.Next(0x4E00, 0x9FA5)).ToArray());
        int[] ids = tokenizer.Encode(text);
        Assert.InRange(ids.Length, 2_000, 30_000);
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    /// <summary>Short words of many scripts, plus long runs where merge order matters most.</summary>
    private static IEnumerable<string> Words()
    {
        string[] pools =
        [
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " \t\n", "你好世界中文字符测试的是了",
            "ひらがなカタカナ", "한국어텍스트", "ÀÉÎÕÜßçñ", "Привет", "नमस्ते", "😀👍🏽🇺🇸", ".,;:!?'\"-_()[]{}<>/\\|@#$%^&*+=~`",
        ];
        var random = new Random(5);
        for (int i = 0; i < 3_000; i++)
        {
            string pool = pools[random.Next(pools.Length)];
            var word = new StringBuilder();
            int length = 1 + random.Next(random.Next(4) == 0 ? 60 : 12);
            while (word.Length < length)
            {
                // Mostly one script per word, as pre-tokenization makes them; sometimes a second one.
                string from = random.Next(8) == 0 ? pools[random.Next(pools.Length)] : pool;
                int at = random.Next(from.Length);
                word.Append(char.IsHighSurrogate(from[at]) && at + 1 < from.Length ? from.Substring(at, 2) : from[at].ToString());
            }
            yield return word.ToString();
        }
        yield return new string(' ', 1_000);
        yield return new string('a', 1_000);
        yield return new string('\n', 400);
        yield return string.Concat(Enumerable.Repeat("ab", 400));
        yield return new string(Enumerable.Range(0, 300).Select(_ => (char)random.Next(0x4E00, 0x9FA5)).ToArray());
    }

    private static (Dictionary<string, int> Vocab, List<(string, string)> Merges) ReadModel(string name)
    {
        string path = Path.Combine(TestData.TokenizerFolder(name), "tokenizer.json");
        Skip.IfNot(File.Exists(path), $"testdata/tokenizers/{name} is missing: run tools/fetch-tokenizers.sh");
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(path));
        JsonElement model = document.RootElement.GetProperty("model");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonProperty entry in model.GetProperty("vocab").EnumerateObject())
        {
            vocab[entry.Name] = entry.Value.GetInt32();
        }
        var merges = new List<(string, string)>();
        foreach (JsonElement merge in model.GetProperty("merges").EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.Array)
            {
                merges.Add((merge[0].GetString()!, merge[1].GetString()!));
            }
            else
            {
                string line = merge.GetString()!;
                int space = line.IndexOf(' ', 1);
                merges.Add((line[..space], line[(space + 1)..]));
            }
        }
        return (vocab, merges);
    }

    /// <summary>BPE as usually written down: find the lowest-ranked adjacent pair, merge it, repeat.</summary>
    private sealed class TextbookBpe
    {
        private readonly Dictionary<string, int> _vocab;
        private readonly Dictionary<(string, string), int> _ranks = [];

        public TextbookBpe(Dictionary<string, int> vocab, List<(string, string)> merges)
        {
            _vocab = vocab;
            for (int rank = 0; rank < merges.Count; rank++)
            {
                _ranks[merges[rank]] = rank;
            }
        }

        public int[] Encode(string word)
        {
            var parts = word.Select(c => c.ToString()).ToList();
            while (parts.Count > 1)
            {
                int best = -1, bestRank = int.MaxValue;
                for (int i = 0; i + 1 < parts.Count; i++)
                {
                    if (_ranks.TryGetValue((parts[i], parts[i + 1]), out int rank) && rank < bestRank)
                    {
                        (best, bestRank) = (i, rank);
                    }
                }
                if (best < 0)
                {
                    break;
                }
                parts[best] += parts[best + 1];
                parts.RemoveAt(best + 1);
            }
            return parts.Select(p => _vocab[p]).ToArray();
        }
    }
}
