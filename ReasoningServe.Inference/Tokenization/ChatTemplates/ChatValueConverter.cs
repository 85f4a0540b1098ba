using System.Text.Json;
using System.Text.Json.Nodes;

namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

/// <summary>
/// Converts request JSON (messages, tools, chat_template_kwargs) to the plain value model templates see:
/// null, bool, long, double, string, IReadOnlyList&lt;object?&gt;, IReadOnlyDictionary&lt;string, object?&gt; (key order kept),
/// with numbers typed as Python's json.loads types them (integers stay integers, "1.0" is a float).
/// </summary>
internal static class ChatValueConverter
{
    public static object? FromJson(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.TryGetInt64(out long l) ? (object)l : element.GetDouble(),
        JsonValueKind.Array => ArrayFromJson(element),
        JsonValueKind.Object => ObjectFromJson(element),
        _ => throw new ArgumentException($"unsupported JSON value kind {element.ValueKind}", nameof(element)),
    };

    public static object? FromJson(JsonNode? node) => node switch
    {
        null => null,
        JsonObject obj => ObjectFromNode(obj),
        JsonArray array => ArrayFromNode(array),
        JsonValue value => FromJson(value.GetValue<JsonElement>()),
        _ => throw new ArgumentException($"unsupported JSON node {node.GetType().Name}", nameof(node)),
    };

    /// <summary>A JSON object as a variables dictionary (e.g. chat_template_kwargs, one message).</summary>
    public static IReadOnlyDictionary<string, object?> ObjectFromJson(JsonElement element)
    {
        var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (JsonProperty p in element.EnumerateObject())
        {
            dict[p.Name] = FromJson(p.Value);
        }

        return dict;
    }

    /// <summary>A JSON array of messages as the list Render takes.</summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, object?>> MessagesFromJson(JsonElement array)
    {
        var messages = new List<IReadOnlyDictionary<string, object?>>(array.GetArrayLength());
        foreach (JsonElement m in array.EnumerateArray())
        {
            messages.Add(m.ValueKind == JsonValueKind.Object
                ? ObjectFromJson(m)
                : throw new ArgumentException("each message must be a JSON object", nameof(array)));
        }

        return messages;
    }

    private static List<object?> ArrayFromJson(JsonElement element)
    {
        var list = new List<object?>(element.GetArrayLength());
        foreach (JsonElement item in element.EnumerateArray())
        {
            list.Add(FromJson(item));
        }

        return list;
    }

    private static OrderedDictionary<string, object?> ObjectFromNode(JsonObject obj)
    {
        var dict = new OrderedDictionary<string, object?>(obj.Count, StringComparer.Ordinal);
        foreach (KeyValuePair<string, JsonNode?> kv in obj)
        {
            dict[kv.Key] = FromJson(kv.Value);
        }

        return dict;
    }

    private static List<object?> ArrayFromNode(JsonArray array)
    {
        var list = new List<object?>(array.Count);
        foreach (JsonNode? item in array)
        {
            list.Add(FromJson(item));
        }

        return list;
    }
}
