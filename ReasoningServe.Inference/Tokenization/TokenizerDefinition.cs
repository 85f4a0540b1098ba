using System.Text;
using System.Text.Json;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// What tokenizer.json says, checked and reduced to the parts a byte-level BPE tokenizer needs. Anything we do not
/// reproduce exactly (other models, byte fallback, subword prefixes, unknown normalizers) is refused with a message
/// naming the file, rather than tokenized almost right.
/// </summary>
internal sealed class TokenizerDefinition
{
    public required Dictionary<string, int> Vocab { get; init; }
    public required List<(string Left, string Right)> Merges { get; init; }
    public required bool IgnoreMerges { get; init; }
    public required List<AddedToken> AddedTokens { get; init; }
    public required List<NormalizationForm> Normalizations { get; init; }
    public required List<(string Pattern, bool RemoveMatches)> Splits { get; init; }
    /// <summary>Ids the post-processor puts before / after a single sequence when special tokens are added.</summary>
    public required int[] PrefixIds { get; init; }
    public required int[] SuffixIds { get; init; }

    public static TokenizerDefinition Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new TokenizerFormatException(path, "file not found (a tokenizer folder needs tokenizer.json)");
        }
        JsonDocument document;
        try
        {
            using var stream = File.OpenRead(path);
            document = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException(path, $"not valid JSON ({e.Message})", e);
        }
        catch (IOException e)
        {
            throw new TokenizerFormatException(path, $"cannot be read ({e.Message})", e);
        }

        using (document)
        {
            try
            {
                return Parse(document.RootElement, path);
            }
            catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or FormatException)
            {
                // JsonElement accessors throw these for a missing property or a value of the wrong JSON type.
                throw new TokenizerFormatException(path, $"unexpected JSON structure ({e.Message})", e);
            }
        }
    }

    private static TokenizerDefinition Parse(JsonElement root, string path)
    {
        Exception Error(string problem) => new TokenizerFormatException(path, problem);

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Error("the top level is not a JSON object");
        }
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
        {
            throw Error("has no \"model\" object");
        }
        string modelType = model.TryGetProperty("type", out var typeElement) ? typeElement.GetString() ?? "" : "BPE";
        if (modelType != "BPE")
        {
            throw Error($"model type \"{modelType}\" is not supported (only byte-level BPE)");
        }
        if (IsTrue(model, "byte_fallback"))
        {
            throw Error("model.byte_fallback is not supported (only byte-level BPE)");
        }
        if (!IsNullOrEmptyString(model, "continuing_subword_prefix") || !IsNullOrEmptyString(model, "end_of_word_suffix"))
        {
            throw Error("model.continuing_subword_prefix / end_of_word_suffix are not supported");
        }
        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
        {
            throw Error("model.dropout is not supported (tokenization must be deterministic)");
        }

        if (!model.TryGetProperty("vocab", out var vocabElement) || vocabElement.ValueKind != JsonValueKind.Object)
        {
            throw Error("model.vocab is missing or not an object");
        }
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocabElement.EnumerateObject())
        {
            vocab[entry.Name] = entry.Value.GetInt32();
        }
        if (vocab.Count == 0)
        {
            throw Error("model.vocab is empty");
        }

        if (!model.TryGetProperty("merges", out var mergesElement) || mergesElement.ValueKind != JsonValueKind.Array)
        {
            throw Error("model.merges is missing or not an array");
        }
        var merges = new List<(string, string)>(mergesElement.GetArrayLength());
        foreach (var merge in mergesElement.EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.String)
            {
                string line = merge.GetString()!;
                int space = line.IndexOf(' ');
                if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
                {
                    throw Error($"merge {merges.Count} (\"{line}\") is not two tokens separated by one space");
                }
                merges.Add((line[..space], line[(space + 1)..]));
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2)
            {
                merges.Add((merge[0].GetString()!, merge[1].GetString()!));
            }
            else
            {
                throw Error($"merge {merges.Count} is neither \"a b\" nor [a, b]");
            }
        }

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedElement) && addedElement.ValueKind == JsonValueKind.Array)
        {
            foreach (var token in addedElement.EnumerateArray())
            {
                added.Add(new AddedToken(
                    token.GetProperty("id").GetInt32(),
                    token.GetProperty("content").GetString() ?? throw Error("an added token has no content"),
                    IsTrue(token, "special"),
                    IsTrue(token, "lstrip"),
                    IsTrue(token, "rstrip"),
                    // HF's default for a token that does not say: normalized unless special.
                    token.TryGetProperty("normalized", out var n) ? n.GetBoolean() : !IsTrue(token, "special"),
                    IsTrue(token, "single_word")));
            }
        }

        var normalizations = new List<NormalizationForm>();
        if (root.TryGetProperty("normalizer", out var normalizer))
        {
            ParseNormalizer(normalizer, normalizations, Error);
        }

        var splits = new List<(string, bool)>();
        bool byteLevel = false;
        if (root.TryGetProperty("pre_tokenizer", out var preTokenizer))
        {
            ParsePreTokenizer(preTokenizer, splits, ref byteLevel, Error);
        }
        if (!byteLevel)
        {
            throw Error("pre_tokenizer has no ByteLevel step (only byte-level BPE is supported)");
        }

        if (root.TryGetProperty("decoder", out var decoder))
        {
            CheckDecoder(decoder, Error);
        }

        var prefix = new List<int>();
        var suffix = new List<int>();
        if (root.TryGetProperty("post_processor", out var postProcessor))
        {
            ParsePostProcessor(postProcessor, prefix, suffix, Error);
        }

        return new TokenizerDefinition
        {
            Vocab = vocab,
            Merges = merges,
            IgnoreMerges = IsTrue(model, "ignore_merges"),
            AddedTokens = added,
            Normalizations = normalizations,
            Splits = splits,
            PrefixIds = [.. prefix],
            SuffixIds = [.. suffix],
        };
    }

    private static void ParseNormalizer(JsonElement element, List<NormalizationForm> output, Func<string, Exception> error)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return;
        }
        string type = element.GetProperty("type").GetString() ?? "";
        switch (type)
        {
            case "Sequence":
                foreach (var inner in element.GetProperty("normalizers").EnumerateArray())
                {
                    ParseNormalizer(inner, output, error);
                }
                break;
            case "NFC": output.Add(NormalizationForm.FormC); break;
            case "NFD": output.Add(NormalizationForm.FormD); break;
            case "NFKC": output.Add(NormalizationForm.FormKC); break;
            case "NFKD": output.Add(NormalizationForm.FormKD); break;
            default: throw error($"normalizer \"{type}\" is not supported");
        }
    }

    private static void ParsePreTokenizer(JsonElement element, List<(string, bool)> splits, ref bool byteLevel,
        Func<string, Exception> error)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return;
        }
        string type = element.GetProperty("type").GetString() ?? "";
        if (byteLevel)
        {
            throw error($"pre_tokenizer step \"{type}\" after ByteLevel is not supported");
        }
        switch (type)
        {
            case "Sequence":
                foreach (var inner in element.GetProperty("pretokenizers").EnumerateArray())
                {
                    ParsePreTokenizer(inner, splits, ref byteLevel, error);
                }
                break;
            case "Split":
                {
                    var pattern = element.GetProperty("pattern");
                    string regex = pattern.TryGetProperty("Regex", out var r) ? r.GetString()!
                        : pattern.TryGetProperty("String", out var s) ? System.Text.RegularExpressions.Regex.Escape(s.GetString()!)
                        : throw error("a Split pre-tokenizer has neither a Regex nor a String pattern");
                    if (IsTrue(element, "invert"))
                    {
                        throw error("Split with invert=true is not supported");
                    }
                    string behavior = element.GetProperty("behavior").GetString() ?? "";
                    bool remove = behavior switch
                    {
                        "Isolated" => false,
                        "Removed" => true,
                        _ => throw error($"Split behavior \"{behavior}\" is not supported (Isolated, Removed)"),
                    };
                    splits.Add((regex, remove));
                    break;
                }
            case "ByteLevel":
                if (IsTrue(element, "add_prefix_space"))
                {
                    throw error("ByteLevel pre-tokenizer with add_prefix_space=true is not supported");
                }
                if (!element.TryGetProperty("use_regex", out var useRegex) || useRegex.GetBoolean())
                {
                    splits.Add((RegexPreTokenizer.Gpt2Pattern, false));
                }
                byteLevel = true;
                break;
            default:
                throw error($"pre_tokenizer \"{type}\" is not supported");
        }
    }

    private static void CheckDecoder(JsonElement element, Func<string, Exception> error)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            throw error("has no decoder (byte-level BPE needs the ByteLevel decoder)");
        }
        string type = element.GetProperty("type").GetString() ?? "";
        if (type == "Sequence")
        {
            var decoders = element.GetProperty("decoders");
            if (decoders.GetArrayLength() != 1)
            {
                throw error("a decoder Sequence other than [ByteLevel] is not supported");
            }
            CheckDecoder(decoders[0], error);
        }
        else if (type != "ByteLevel")
        {
            throw error($"decoder \"{type}\" is not supported (only ByteLevel)");
        }
    }

    private static void ParsePostProcessor(JsonElement element, List<int> prefix, List<int> suffix, Func<string, Exception> error)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return;
        }
        string type = element.GetProperty("type").GetString() ?? "";
        switch (type)
        {
            case "Sequence":
                foreach (var inner in element.GetProperty("processors").EnumerateArray())
                {
                    ParsePostProcessor(inner, prefix, suffix, error);
                }
                break;
            case "ByteLevel":
                break; // only adjusts offsets
            case "TemplateProcessing":
                {
                    var specialTokens = element.GetProperty("special_tokens");
                    bool seenSequence = false;
                    foreach (var piece in element.GetProperty("single").EnumerateArray())
                    {
                        if (piece.TryGetProperty("Sequence", out _))
                        {
                            seenSequence = true;
                        }
                        else if (piece.TryGetProperty("SpecialToken", out var special))
                        {
                            string name = special.GetProperty("id").GetString()!;
                            if (!specialTokens.TryGetProperty(name, out var entry))
                            {
                                throw error($"post_processor template names \"{name}\", which is not in its special_tokens");
                            }
                            var target = seenSequence ? suffix : prefix;
                            foreach (var id in entry.GetProperty("ids").EnumerateArray())
                            {
                                target.Add(id.GetInt32());
                            }
                        }
                    }
                    break;
                }
            default:
                throw error($"post_processor \"{type}\" is not supported");
        }
    }

    private static bool IsTrue(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;

    private static bool IsNullOrEmptyString(JsonElement element, string name) =>
        !element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null
        || (value.ValueKind == JsonValueKind.String && value.GetString()!.Length == 0);
}
