using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace ReasoningServe.Api.Routing;

/// <summary>
/// A prompt cut into fixed-size text blocks, each identified by the hash of the block chained with all blocks before
/// it (the text analogue of the engine's KV block hashes): two prompts share their first k block hashes exactly when
/// they share their first k blocks of text. The model name seeds the chain, so models never share entries.
/// </summary>
internal readonly struct PromptPrefix
{
    private PromptPrefix(ulong[] blockHashes) => BlockHashes = blockHashes;

    public ulong[] BlockHashes { get; }

    public static PromptPrefix Empty { get; } = new([]);

    public static PromptPrefix Of(string model, string text, int blockChars, int maxChars)
    {
        var length = Math.Min(text.Length, maxChars);
        var blocks = blockChars <= 0 ? 0 : length / blockChars;
        if (blocks == 0)
        {
            return Empty;
        }
        var hashes = new ulong[blocks];
        var chain = XxHash64.HashToUInt64(MemoryMarshal.AsBytes(model.AsSpan()));
        for (var i = 0; i < blocks; i++)
        {
            var block = MemoryMarshal.AsBytes(text.AsSpan(i * blockChars, blockChars));
            chain = XxHash64.HashToUInt64(block, unchecked((long)chain));
            hashes[i] = chain;
        }
        return new PromptPrefix(hashes);
    }

    /// <summary>
    /// The text a request's prompt starts with: chat messages rendered as "role\ncontent\n" in order (what the chat
    /// template would put first, without needing the template), or the completion prompt.
    /// </summary>
    public static string TextOf(JsonElement body)
    {
        if (body.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array)
        {
            var text = new StringBuilder();
            foreach (var message in messages.EnumerateArray())
            {
                if (message.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }
                if (message.TryGetProperty("role", out var role) && role.ValueKind == JsonValueKind.String)
                {
                    text.Append(role.GetString()).Append('\n');
                }
                if (message.TryGetProperty("content", out var content))
                {
                    AppendContent(text, content);
                }
                text.Append('\n');
            }
            return text.ToString();
        }
        if (body.TryGetProperty("prompt", out var prompt))
        {
            var text = new StringBuilder();
            AppendContent(text, prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() > 0
                && prompt[0].ValueKind is JsonValueKind.String or JsonValueKind.Array ? prompt[0] : prompt);
            return text.ToString();
        }
        return "";
    }

    private static void AppendContent(StringBuilder text, JsonElement content)
    {
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                text.Append(content.GetString());
                break;
            case JsonValueKind.Array:
                foreach (var part in content.EnumerateArray())
                {
                    if (part.ValueKind == JsonValueKind.Object && part.TryGetProperty("text", out var partText)
                        && partText.ValueKind == JsonValueKind.String)
                    {
                        text.Append(partText.GetString());
                    }
                    else if (part.ValueKind is JsonValueKind.Number or JsonValueKind.String)
                    {
                        // Token-id prompts: the ids, comma separated, are as good a prefix key as text.
                        text.Append(part.GetRawText()).Append(',');
                    }
                }
                break;
        }
    }
}
