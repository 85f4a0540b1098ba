namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// A Hugging Face tokenizer loaded from tokenizer.json + tokenizer_config.json: byte-level BPE with added and special
/// tokens, encoding and decoding exactly as HF `tokenizers` does.
/// </summary>
internal sealed partial class Tokenizer
{
    /// <summary>Loads tokenizer.json (required) and tokenizer_config.json (optional) from a model folder.</summary>
    public static Tokenizer FromFolder(string directory) => throw new NotImplementedException();

    /// <summary>One past the largest token id, added tokens included.</summary>
    public int VocabSize => throw new NotImplementedException();

    /// <summary>Encodes text; special tokens written in the text are recognised. addSpecialTokens adds BOS where the
    /// tokenizer's post-processor does (Llama, DeepSeek), as HF's encode(add_special_tokens=True).</summary>
    public int[] Encode(string text, bool addSpecialTokens = false) => throw new NotImplementedException();

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false) => throw new NotImplementedException();

    /// <summary>The raw vocabulary string of a token (e.g. "Ġhello"), as HF's convert_ids_to_tokens.</summary>
    public string? IdToToken(int id) => throw new NotImplementedException();

    public int? TokenToId(string token) => throw new NotImplementedException();

    public bool IsSpecial(int id) => throw new NotImplementedException();

    /// <summary>tokenizer_config.json's chat_template (the "default" one when it is a list), if any.</summary>
    public string? ChatTemplate => throw new NotImplementedException();

    public string? BosToken => throw new NotImplementedException();

    public string? EosToken => throw new NotImplementedException();

    public int? EosTokenId => throw new NotImplementedException();
}
