using System.Text.Json;
using ReasoningServe.Inference.Tokenization.ChatTemplates;

namespace ReasoningServe.Inference.Serving;

/// <summary>JSON options given on the command line, as the plain values chat templates take.</summary>
internal static class JsonValues
{
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
                ? new Dictionary<string, object?>(ChatValueConverter.ObjectFromJson(doc.RootElement), StringComparer.Ordinal)
                : throw new ServerOptionsException($"{flag} must be a JSON object, got: {json}");
        }
        catch (JsonException e)
        {
            throw new ServerOptionsException($"{flag} is not valid JSON ({e.Message}): {json}");
        }
    }
}
