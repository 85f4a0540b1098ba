using System.Buffers;
using System.Text;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// A Hugging Face tokenizer loaded from tokenizer.json + tokenizer_config.json: byte-level BPE with added and special
/// tokens, encoding and decoding exactly as HF `tokenizers` does.
/// </summary>
/// <remarks>
/// The pipeline is HF's: added tokens that are not normalized are cut out of the raw text (leftmost-longest); the
/// rest is normalized and searched for normalized added tokens; what remains is pre-tokenized by the regex splits and
/// each piece is byte-level BPE-encoded; the post-processor (or, where tokenizer_config.json sets add_bos_token /
/// add_eos_token, transformers' replacement template) adds BOS/EOS. Decoding concatenates each token's bytes and
/// decodes them as UTF-8 with U+FFFD for invalid sequences, as the ByteLevel decoder does. Microsoft.ML.Tokenizers is
/// not used: see docs in the branch report for where it differs from HF on these tokenizers.
/// </remarks>
internal sealed partial class Tokenizer
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int> _addedByContent;
    private readonly string?[] _idToToken;
    private readonly bool[] _isSpecial;
    private readonly byte[] _tokenBytes;
    private readonly int[] _tokenByteOffsets; // token i's bytes are _tokenBytes[_tokenByteOffsets[i].._tokenByteOffsets[i+1]]
    private readonly AddedTokenSplitter _rawAddedTokens;
    private readonly AddedTokenSplitter _normalizedAddedTokens;
    private readonly bool _hasNormalizedAddedTokens;
    private readonly NormalizationForm[] _normalizations;
    private readonly RegexPreTokenizer _preTokenizer;
    private readonly BytePairEncoder _bpe;
    private readonly int[] _prefixIds;
    private readonly int[] _suffixIds;
    private readonly TokenizerConfig _config;

    private Tokenizer(TokenizerDefinition definition, TokenizerConfig config, string? chatTemplate, string path)
    {
        _config = config;
        ChatTemplate = chatTemplate;
        _vocab = definition.Vocab;
        _normalizations = [.. definition.Normalizations];
        if (_normalizations.Length > 0)
        {
            UnicodeNormalizer.EnsureAvailable();
        }
        _preTokenizer = new RegexPreTokenizer(definition.Splits);
        _bpe = new BytePairEncoder(_vocab, definition.Merges, definition.IgnoreMerges,
            problem => new TokenizerFormatException(path, problem));

        _addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
        var specialContents = new HashSet<string>(StringComparer.Ordinal);
        int maxId = -1;
        foreach (var (_, id) in _vocab)
        {
            maxId = Math.Max(maxId, id);
        }
        foreach (var token in definition.AddedTokens)
        {
            _addedByContent[token.Content] = token.Id;
            maxId = Math.Max(maxId, token.Id);
            if (token.Special)
            {
                specialContents.Add(token.Content);
            }
        }

        _idToToken = new string?[maxId + 1];
        foreach (var (token, id) in _vocab)
        {
            _idToToken[id] = token;
        }
        foreach (var token in definition.AddedTokens)
        {
            _idToToken[token.Id] = token.Content; // the added vocabulary wins, as in HF's id_to_token
        }

        int distinct = _vocab.Count;
        foreach (var content in _addedByContent.Keys)
        {
            if (!_vocab.ContainsKey(content))
            {
                distinct++;
            }
        }
        VocabSize = distinct;

        _isSpecial = new bool[_idToToken.Length];
        for (int id = 0; id < _idToToken.Length; id++)
        {
            _isSpecial[id] = _idToToken[id] is { } t && specialContents.Contains(t);
        }

        (_tokenBytes, _tokenByteOffsets) = BuildTokenBytes(_idToToken);

        _rawAddedTokens = new AddedTokenSplitter(definition.AddedTokens.Where(t => !t.Normalized));
        var normalizedTokens = definition.AddedTokens.Where(t => t.Normalized).Select(t => t with { Content = Normalize(t.Content) }).ToList();
        _normalizedAddedTokens = new AddedTokenSplitter(normalizedTokens);
        _hasNormalizedAddedTokens = normalizedTokens.Count > 0;

        if (config.AddBosToken is not null || config.AddEosToken is not null)
        {
            // transformers replaces tokenizer.json's post-processor with a BOS/EOS template when the config says.
            int? bos = config.AddBosToken == true && config.BosToken is { } b ? TokenToId(b) : null;
            int? eos = config.AddEosToken == true && config.EosToken is { } e ? TokenToId(e) : null;
            _prefixIds = bos is { } bosId ? [bosId] : [];
            _suffixIds = eos is { } eosId ? [eosId] : [];
        }
        else
        {
            _prefixIds = definition.PrefixIds;
            _suffixIds = definition.SuffixIds;
        }
    }

    /// <summary>Loads tokenizer.json (required) and tokenizer_config.json (optional) from a model folder.</summary>
    public static Tokenizer FromFolder(string directory)
    {
        string path = Path.Combine(directory, "tokenizer.json");
        var definition = TokenizerDefinition.Load(path);
        var config = TokenizerConfig.Load(Path.Combine(directory, "tokenizer_config.json"));
        // transformers prefers a separate chat_template.jinja when the folder has one.
        string jinjaPath = Path.Combine(directory, "chat_template.jinja");
        string? chatTemplate = File.Exists(jinjaPath) ? File.ReadAllText(jinjaPath) : config.ChatTemplate;
        return new Tokenizer(definition, config, chatTemplate, path);
    }

    /// <summary>The number of distinct tokens, added tokens included (HF's len(tokenizer)); for these tokenizers
    /// one past the largest token id.</summary>
    public int VocabSize { get; }

    /// <summary>Encodes text; special tokens written in the text are recognised. addSpecialTokens adds BOS where the
    /// tokenizer's post-processor does (Llama, DeepSeek), as HF's encode(add_special_tokens=True).</summary>
    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = ReplaceLoneSurrogates(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens)
        {
            ids.AddRange(_prefixIds);
        }

        var segments = new List<TextSegment>();
        _rawAddedTokens.Split(text, 0, text.Length, segments);
        List<TextSegment>? inner = null;
        foreach (var segment in segments)
        {
            if (segment.Id >= 0)
            {
                ids.Add(segment.Id);
                continue;
            }
            string piece = _normalizations.Length == 0 ? text : Normalize(text.Substring(segment.Start, segment.Length));
            int start = _normalizations.Length == 0 ? segment.Start : 0;
            int length = _normalizations.Length == 0 ? segment.Length : piece.Length;
            if (!_hasNormalizedAddedTokens)
            {
                EncodePlain(piece.AsSpan(start, length), ids);
                continue;
            }
            inner ??= [];
            inner.Clear();
            _normalizedAddedTokens.Split(piece, start, length, inner);
            foreach (var sub in inner)
            {
                if (sub.Id >= 0)
                {
                    ids.Add(sub.Id);
                }
                else
                {
                    EncodePlain(piece.AsSpan(sub.Start, sub.Length), ids);
                }
            }
        }

        if (addSpecialTokens)
        {
            ids.AddRange(_suffixIds);
        }
        return [.. ids];
    }

    private void EncodePlain(ReadOnlySpan<char> text, List<int> ids) =>
        _preTokenizer.Split(text, (_bpe, ids), static (piece, state) => state._bpe.Encode(piece, state.ids));

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        int total = 0;
        foreach (int id in ids)
        {
            if (TryGetTokenBytes(id, skipSpecialTokens, out var bytes))
            {
                total += bytes.Length;
            }
        }
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(total, 1));
        try
        {
            int n = 0;
            foreach (int id in ids)
            {
                if (TryGetTokenBytes(id, skipSpecialTokens, out var bytes))
                {
                    bytes.CopyTo(buffer.AsSpan(n));
                    n += bytes.Length;
                }
            }
            // .NET's decoder substitutes U+FFFD per maximal invalid subsequence, like Rust's from_utf8_lossy.
            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The raw bytes a token stands for in decoded text; false for unknown ids and, when asked, special
    /// tokens (both of which decode to nothing).</summary>
    internal bool TryGetTokenBytes(int id, bool skipSpecialTokens, out ReadOnlySpan<byte> bytes)
    {
        if ((uint)id >= (uint)_idToToken.Length || _idToToken[id] is null || (skipSpecialTokens && _isSpecial[id]))
        {
            bytes = default;
            return false;
        }
        bytes = _tokenBytes.AsSpan(_tokenByteOffsets[id], _tokenByteOffsets[id + 1] - _tokenByteOffsets[id]);
        return true;
    }

    /// <summary>The raw vocabulary string of a token (e.g. "Ġhello"), as HF's convert_ids_to_tokens.</summary>
    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out int added) ? added
        : _vocab.TryGetValue(token, out int id) ? id
        : null;

    public bool IsSpecial(int id) => (uint)id < (uint)_isSpecial.Length && _isSpecial[id];

    /// <summary>tokenizer_config.json's chat_template (the "default" one when it is a list), if any.</summary>
    public string? ChatTemplate { get; }

    public string? BosToken => _config.BosToken;

    public string? EosToken => _config.EosToken;

    public int? EosTokenId => EosToken is { } eos ? TokenToId(eos) : null;

    private string Normalize(string text)
    {
        foreach (var form in _normalizations)
        {
            text = UnicodeNormalizer.Normalize(text, form);
        }
        return text;
    }

    /// <summary>HF receives UTF-8, which cannot hold an unpaired surrogate; .NET's UTF-8 encoder turns one into
    /// U+FFFD, so we do that up front and every later step sees well-formed text.</summary>
    private static string ReplaceLoneSurrogates(string text)
    {
        int first = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (first < 0)
        {
            return text;
        }
        char[]? copy = null;
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                copy ??= text.ToCharArray();
                copy[i] = '\uFFFD';
            }
        }
        return copy is null ? text : new string(copy);
    }

    /// <summary>Each token's bytes per the ByteLevel decoder: a token made only of byte-alphabet characters stands for
    /// those bytes; any other token (e.g. "&lt;｜end▁of▁sentence｜&gt;") for its own UTF-8.</summary>
    private static (byte[] Bytes, int[] Offsets) BuildTokenBytes(string?[] idToToken)
    {
        var offsets = new int[idToToken.Length + 1];
        var bytes = new List<byte>(idToToken.Length * 8);
        for (int id = 0; id < idToToken.Length; id++)
        {
            offsets[id] = bytes.Count;
            if (idToToken[id] is not { } token)
            {
                continue;
            }
            bool byteLevel = true;
            foreach (char c in token)
            {
                if (ByteLevelAlphabet.ToByte(c) < 0)
                {
                    byteLevel = false;
                    break;
                }
            }
            if (byteLevel)
            {
                foreach (char c in token)
                {
                    bytes.Add((byte)ByteLevelAlphabet.ToByte(c));
                }
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(token));
            }
        }
        offsets[idToToken.Length] = bytes.Count;
        return ([.. bytes], offsets);
    }
}
