using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Tests.Serving;

/// <summary>Paths into the repository's testdata and the real tokenizers, loaded once per name.</summary>
internal static class TestData
{
    public static string Root { get; } = FindRoot();

    public static string TokenizerFolder(string name) => Path.Combine(Root, "testdata", "tokenizers", name);

    private static readonly Dictionary<string, Lazy<Tokenizer>> Tokenizers = new()
    {
        ["qwen3"] = new(() => Tokenizer.FromFolder(TokenizerFolder("qwen3"))),
        ["deepseek_v3"] = new(() => Tokenizer.FromFolder(TokenizerFolder("deepseek_v3"))),
        ["llama3_1"] = new(() => Tokenizer.FromFolder(TokenizerFolder("llama3_1"))),
    };

    /// <summary>The real tokenizer; skips the test (visibly) while the tokenizer files are not fetched.</summary>
    public static Tokenizer RealTokenizer(string name)
    {
        Skip.IfNot(File.Exists(Path.Combine(TokenizerFolder(name), "tokenizer.json")),
            $"testdata/tokenizers/{name} is missing: run tools/fetch-tokenizers.sh");
        return Tokenizers[name].Value;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ReasoningServe.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("ReasoningServe.sln not found above " + AppContext.BaseDirectory);
    }
}
