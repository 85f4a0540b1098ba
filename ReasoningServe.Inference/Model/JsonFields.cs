using System.Text.Json;

namespace ReasoningServe.Inference.Model;

/// <summary>Typed access to one JSON object, with errors that name the file and the field.</summary>
internal readonly record struct JsonFields(string Path, JsonElement Root, string Prefix = "")
{
    public ModelLoadException Error(string problem) => new($"{Path}: {problem}.");

    /// <summary>Parses a JSON object file; null when it is absent and not required.</summary>
    public static JsonDocument? Load(string path, bool required)
    {
        if (!File.Exists(path))
        {
            return required ? throw new ModelLoadException($"{path}: file not found.") : null;
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"{path}: not valid JSON ({e.Message}).", e);
        }
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new ModelLoadException($"{path}: expected a JSON object.");
        }
        return document;
    }

    public JsonFields Nested(string field, JsonElement element) => new(Path, element, Prefix + field + ".");

    private bool TryGet(string name, out JsonElement value) =>
        Root.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    public int RequiredInt(string name) =>
        OptionalInt(name) ?? throw Error($"field '{Prefix}{name}' is missing");

    public float RequiredFloat(string name) =>
        OptionalFloat(name) ?? throw Error($"field '{Prefix}{name}' is missing");

    public int? OptionalInt(string name)
    {
        if (!TryGet(name, out JsonElement value))
        {
            return null;
        }
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int result)
            ? result
            : throw Error($"field '{Prefix}{name}' must be an integer, got {value.GetRawText()}");
    }

    public float? OptionalFloat(string name)
    {
        if (!TryGet(name, out JsonElement value))
        {
            return null;
        }
        return value.ValueKind == JsonValueKind.Number
            ? (float)value.GetDouble()
            : throw Error($"field '{Prefix}{name}' must be a number, got {value.GetRawText()}");
    }

    public bool? OptionalBool(string name)
    {
        if (!TryGet(name, out JsonElement value))
        {
            return null;
        }
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error($"field '{Prefix}{name}' must be true or false, got {value.GetRawText()}"),
        };
    }

    public string? OptionalString(string name)
    {
        if (!TryGet(name, out JsonElement value))
        {
            return null;
        }
        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw Error($"field '{Prefix}{name}' must be a string, got {value.GetRawText()}");
    }

    public JsonElement? OptionalObject(string name)
    {
        if (!TryGet(name, out JsonElement value))
        {
            return null;
        }
        return value.ValueKind == JsonValueKind.Object
            ? value
            : throw Error($"field '{Prefix}{name}' must be an object, got {value.GetRawText()}");
    }

    /// <summary>eos_token_id may be one id or a list of them.</summary>
    public IReadOnlyList<int> OptionalIntOrList(string name)
    {
        if (!TryGet(name, out JsonElement value))
        {
            return [];
        }
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int single))
        {
            return [single];
        }
        if (value.ValueKind == JsonValueKind.Array)
        {
            var ids = new List<int>(value.GetArrayLength());
            foreach (JsonElement item in value.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int id))
                {
                    throw Error($"field '{Prefix}{name}' must hold integers, got {value.GetRawText()}");
                }
                ids.Add(id);
            }
            return ids;
        }
        throw Error($"field '{Prefix}{name}' must be an integer or a list of integers, got {value.GetRawText()}");
    }
}
