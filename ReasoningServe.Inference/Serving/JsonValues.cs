using System.Text.Json;

namespace ReasoningServe.Inference.Serving;

/// <summary>JSON → the plain values chat templates take (null, bool, long, double, string, lists, string-keyed maps).</summary>
internal static class JsonValues
{
    public static object? ToPlain(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.TryGetInt64(out var l) ? l : element.GetDouble(),
        JsonValueKind.Array => ToList(element),
        _ => ToMap(element),
    };

    private static List<object?> ToList(JsonElement array)
    {
        var list = new List<object?>(array.GetArrayLength());
        foreach (var item in array.EnumerateArray())
        {
            list.Add(ToPlain(item));
        }
        return list;
    }

    private static Dictionary<string, object?> ToMap(JsonElement obj)
    {
        var map = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var property in obj.EnumerateObject())
        {
            map[property.Name] = ToPlain(property.Value);
        }
        return map;
    }

    /// <summary>Parses --default-chat-template-kwargs; anything but a JSON object is a start-up error.</summary>
    public static Dictionary<string, object?> ParseObject(string? json, string flag)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return new Dictionary<string, object?>(StringComparer.Ordinal);
        }
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                ? ToMap(doc.RootElement)
                : throw new ServerOptionsException($"{flag} must be a JSON object, got: {json}");
        }
        catch (JsonException e)
        {
            throw new ServerOptionsException($"{flag} is not valid JSON ({e.Message}): {json}");
        }
    }
}
