using System.Text.Json;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// The parts of tokenizer_config.json (transformers' settings around the tokenizer) that change behaviour: the chat
/// template, BOS/EOS and whether encode adds them.
/// </summary>
internal sealed class TokenizerConfig
{
    public static readonly TokenizerConfig Empty = new();

    public string? ChatTemplate { get; private init; }
    public string? BosToken { get; private init; }
    public string? EosToken { get; private init; }
    /// <summary>null when the file does not say; transformers then keeps tokenizer.json's post-processor.</summary>
    public bool? AddBosToken { get; private init; }
    public bool? AddEosToken { get; private init; }
    /// <summary>Read for completeness; transformers ≥ 5.7 ignores it for BPE models, and so do we.</summary>
    public bool CleanUpTokenizationSpaces { get; private init; }

    public static TokenizerConfig Load(string path)
    {
        if (!File.Exists(path))
        {
            return Empty;
        }
        try
        {
            using var stream = File.OpenRead(path);
            using var document = JsonDocument.Parse(stream);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new TokenizerFormatException(path, "the top level is not a JSON object");
            }
            return new TokenizerConfig
            {
                ChatTemplate = ReadChatTemplate(root, path),
                BosToken = ReadToken(root, "bos_token"),
                EosToken = ReadToken(root, "eos_token"),
                AddBosToken = ReadBool(root, "add_bos_token"),
                AddEosToken = ReadBool(root, "add_eos_token"),
                CleanUpTokenizationSpaces = ReadBool(root, "clean_up_tokenization_spaces") ?? false,
            };
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException(path, $"not valid JSON ({e.Message})", e);
        }
        catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException)
        {
            throw new TokenizerFormatException(path, $"unexpected JSON structure ({e.Message})", e);
        }
    }

    /// <summary>A string, or a list of {name, template} from which the one named "default" is taken.</summary>
    private static string? ReadChatTemplate(JsonElement root, string path)
    {
        if (!root.TryGetProperty("chat_template", out var element))
        {
            return null;
        }
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                return element.GetString();
            case JsonValueKind.Array:
                foreach (var named in element.EnumerateArray())
                {
                    if (named.TryGetProperty("name", out var name) && name.GetString() == "default")
                    {
                        return named.GetProperty("template").GetString();
                    }
                }
                return null;
            case JsonValueKind.Null:
                return null;
            default:
                throw new TokenizerFormatException(path, "chat_template is neither a string nor a list of {name, template}");
        }
    }

    /// <summary>A plain string or an AddedToken object {"content": ...}.</summary>
    private static string? ReadToken(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var element))
        {
            return null;
        }
        return element.ValueKind switch
        {
            JsonValueKind.String => element.GetString(),
            JsonValueKind.Object when element.TryGetProperty("content", out var content) => content.GetString(),
            _ => null,
        };
    }

    private static bool? ReadBool(JsonElement root, string name) =>
        root.TryGetProperty(name, out var element) && element.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? element.GetBoolean()
            : null;
}
