namespace ReasoningServe.Inference.Tokenization;

/// <summary>A tokenizer file that is missing, unreadable or describes something we do not support; the message names
/// the file and the problem.</summary>
internal sealed class TokenizerFormatException(string path, string problem, Exception? inner = null)
    : Exception($"{path}: {problem}", inner)
{
    public string FilePath { get; } = path;
}
