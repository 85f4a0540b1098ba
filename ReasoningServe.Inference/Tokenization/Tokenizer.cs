using System.Buffers;
using System.Text;
using System.Text.Json;
using ReasoningServe.Inference.Model;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// A Hugging Face tokenizer loaded from tokenizer.json + tokenizer_config.json: byte-level BPE with added and special
/// tokens, encoding and decoding exactly as HF `tokenizers` does. Pipeline: added tokens cut out → normalizer →
/// pre-tokenizer splits → byte-level alphabet → BPE per word → post-processor (BOS for Llama 3).
/// </summary>
internal sealed partial class Tokenizer
{
    public const string FileName = "tokenizer.json";
    public const string ConfigFileName = "tokenizer_config.json";

    private readonly Normalizer _normalizer;
    private readonly PreTokenizer _preTokenizer;
    private readonly BytePairEncoder _bpe;
    private readonly AddedTokens _addedTokens;
    private readonly Dictionary<string, int> _tokenToId;
    private readonly string?[] _idToToken;
    private readonly byte[]?[] _tokenBytes;
    private readonly bool[] _special;
    private readonly bool[] _added;
    private readonly int[] _prefixIds;
    private readonly int[] _suffixIds;

    private Tokenizer(string directory)
    {
        string path = Path.Combine(directory, FileName);
        using JsonDocument doc = ReadJson(path)
            ?? throw new ModelLoadException($"{path}: missing; a Hugging Face model folder needs its tokenizer.json.");
        JsonElement root = doc.RootElement;
        try
        {
            JsonElement model = root.GetProperty("model");
            string type = model.GetProperty("type").GetString() ?? "";
            if (type != "BPE")
            {
                throw new ModelLoadException($"{path}: model type {type} is not supported (ReasoningServe reads byte-level BPE).");
            }
            JsonElement decoder = root.TryGetProperty("decoder", out JsonElement d) ? d : default;
            if (decoder.ValueKind != JsonValueKind.Object || decoder.GetProperty("type").GetString() != "ByteLevel")
            {
                throw new ModelLoadException($"{path}: only the ByteLevel decoder is supported.");
            }

            var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (JsonProperty entry in model.GetProperty("vocab").EnumerateObject())
            {
                vocab[entry.Name] = entry.Value.GetInt32();
            }
            var added = new List<AddedToken>();
            foreach (JsonElement t in root.GetProperty("added_tokens").EnumerateArray())
            {
                added.Add(new AddedToken(t.GetProperty("id").GetInt32(), t.GetProperty("content").GetString()!,
                    Flag(t, "special"), Flag(t, "lstrip"), Flag(t, "rstrip")));
            }

            _normalizer = Normalizer.FromJson(Property(root, "normalizer"), path);
            _preTokenizer = PreTokenizer.FromJson(Property(root, "pre_tokenizer"), path);
            _bpe = new BytePairEncoder(vocab, Merges(model.GetProperty("merges")),
                model.TryGetProperty("ignore_merges", out JsonElement im) && im.ValueKind == JsonValueKind.True);
            _addedTokens = new AddedTokens(added);

            int size = 1 + Math.Max(vocab.Values.DefaultIfEmpty(-1).Max(), added.Select(a => a.Id).DefaultIfEmpty(-1).Max());
            _idToToken = new string?[size];
            _special = new bool[size];
            _added = new bool[size];
            _tokenToId = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
            foreach (var (token, id) in vocab)
            {
                _idToToken[id] = token;
            }
            foreach (AddedToken a in added)
            {
                _idToToken[a.Id] = a.Content;
                _special[a.Id] = a.Special;
                _added[a.Id] = true;
                _tokenToId[a.Content] = a.Id;
            }
            _tokenBytes = new byte[size][];
            for (int id = 0; id < size; id++)
            {
                _tokenBytes[id] = _idToToken[id] is { } token ? ByteLevel.Decode(token) : null;
            }
            (_prefixIds, _suffixIds) = PostProcessor(Property(root, "post_processor"), path);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or InvalidDataException
            or FormatException or ArgumentException)
        {
            throw new ModelLoadException($"{path}: malformed ({e.Message}).", e);
        }

        string configPath = Path.Combine(directory, ConfigFileName);
        using JsonDocument? config = ReadJson(configPath);
        if (config is not null)
        {
            JsonElement c = config.RootElement;
            ChatTemplate = ChatTemplateSource(c);
            BosToken = TokenContent(c, "bos_token");
            EosToken = TokenContent(c, "eos_token");
        }
        EosTokenId = EosToken is null ? null : TokenToId(EosToken);
    }

    /// <summary>Loads tokenizer.json (required) and tokenizer_config.json (optional) from a model folder.</summary>
    public static Tokenizer FromFolder(string directory) => new(directory);

    /// <summary>One past the largest token id, added tokens included.</summary>
    public int VocabSize => _idToToken.Length;

    /// <summary>Encodes text; special tokens written in the text are recognised. addSpecialTokens adds what the
    /// tokenizer's post-processor adds (Llama 3's BOS), as HF's encode(add_special_tokens=True).</summary>
    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens)
        {
            ids.AddRange(_prefixIds);
        }
        foreach (var (segment, token) in _addedTokens.Split(text))
        {
            if (token is not null)
            {
                ids.Add(token.Id);
                continue;
            }
            foreach (string piece in _preTokenizer.Split(_normalizer.Apply(segment)))
            {
                _bpe.Encode(ByteLevel.Encode(Encoding.UTF8.GetBytes(piece)), ids);
            }
        }
        if (addSpecialTokens)
        {
            ids.AddRange(_suffixIds);
        }
        return [.. ids];
    }

    /// <summary>HF decode: the tokens' bytes concatenated and read as UTF-8, invalid bytes becoming U+FFFD; unknown ids
    /// are skipped.</summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var bytes = new ArrayBufferWriter<byte>(ids.Length * 4 + 16);
        foreach (int id in ids)
        {
            if (TokenBytes(id, skipSpecialTokens) is { } b)
            {
                bytes.Write(b);
            }
        }
        return Encoding.UTF8.GetString(bytes.WrittenSpan);
    }

    /// <summary>The bytes a token stands for, or null when it is unknown or a skipped special token.</summary>
    public byte[]? TokenBytes(int id, bool skipSpecialTokens) =>
        (uint)id < (uint)_tokenBytes.Length && !(skipSpecialTokens && _special[id]) ? _tokenBytes[id] : null;

    /// <summary>The raw vocabulary string of a token (e.g. "Ġhello"), as HF's convert_ids_to_tokens.</summary>
    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    public int? TokenToId(string token) => _tokenToId.TryGetValue(token, out int id) ? id : null;

    public bool IsSpecial(int id) => (uint)id < (uint)_special.Length && _special[id];

    /// <summary>An added token (special or not, such as &lt;think&gt;): matched whole in text, never produced by BPE.</summary>
    public bool IsAdded(int id) => (uint)id < (uint)_added.Length && _added[id];

    /// <summary>tokenizer_config.json's chat_template (the "default" one when it is a list), if any.</summary>
    public string? ChatTemplate { get; }

    public string? BosToken { get; }

    public string? EosToken { get; }

    public int? EosTokenId { get; }

    private static JsonDocument? ReadJson(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"{path}: not valid JSON ({e.Message}).", e);
        }
    }

    private static bool Flag(JsonElement element, string name) =>
        element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.True;

    private static JsonElement Property(JsonElement element, string name) =>
        element.TryGetProperty(name, out JsonElement value) ? value : default;

    /// <summary>Merges are "left right" strings (older files) or [left, right] pairs (newer ones).</summary>
    private static List<(string, string)> Merges(JsonElement merges)
    {
        var list = new List<(string, string)>(merges.GetArrayLength());
        foreach (JsonElement merge in merges.EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.Array)
            {
                list.Add((merge[0].GetString()!, merge[1].GetString()!));
                continue;
            }
            string text = merge.GetString()!;
            int space = text.IndexOf(' ', 1);
            if (space < 0)
            {
                throw new FormatException($"merge '{text}' has no space between its two parts");
            }
            list.Add((text[..space], text[(space + 1)..]));
        }
        return list;
    }

    /// <summary>Token ids the post-processor puts before and after the text when special tokens are added.</summary>
    private static (int[] Prefix, int[] Suffix) PostProcessor(JsonElement element, string path)
    {
        var prefix = new List<int>();
        var suffix = new List<int>();
        Collect(element);
        return ([.. prefix], [.. suffix]);

        void Collect(JsonElement e)
        {
            if (e.ValueKind != JsonValueKind.Object)
            {
                return;
            }
            switch (e.GetProperty("type").GetString())
            {
                case "ByteLevel":
                    break;
                case "Sequence":
                    foreach (JsonElement child in e.GetProperty("processors").EnumerateArray())
                    {
                        Collect(child);
                    }
                    break;
                case "TemplateProcessing":
                    JsonElement specials = e.GetProperty("special_tokens");
                    bool afterText = false;
                    foreach (JsonElement piece in e.GetProperty("single").EnumerateArray())
                    {
                        if (piece.TryGetProperty("Sequence", out _))
                        {
                            afterText = true;
                            continue;
                        }
                        string name = piece.GetProperty("SpecialToken").GetProperty("id").GetString()!;
                        foreach (JsonElement id in specials.GetProperty(name).GetProperty("ids").EnumerateArray())
                        {
                            (afterText ? suffix : prefix).Add(id.GetInt32());
                        }
                    }
                    break;
                case var other:
                    throw new ModelLoadException($"{path}: post_processor type {other} is not supported.");
            }
        }
    }

    private static string? ChatTemplateSource(JsonElement config)
    {
        if (!config.TryGetProperty("chat_template", out JsonElement template))
        {
            return null;
        }
        if (template.ValueKind == JsonValueKind.String)
        {
            return template.GetString();
        }
        if (template.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement named in template.EnumerateArray())
            {
                if (named.TryGetProperty("name", out JsonElement n) && n.GetString() == "default")
                {
                    return named.GetProperty("template").GetString();
                }
            }
        }
        return null;
    }

    /// <summary>bos_token / eos_token are a string or an AddedToken object {"content": ...}.</summary>
    private static string? TokenContent(JsonElement config, string name)
    {
        if (!config.TryGetProperty(name, out JsonElement value))
        {
            return null;
        }
        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object when value.TryGetProperty("content", out JsonElement c) => c.GetString(),
            _ => null,
        };
    }
}
