using System.Text.Json;

namespace ReasoningServe.Inference.Serving;

/// <summary>
/// The model's sampling defaults from generation_config.json; a request's own value wins, then these, then OpenAI's.
/// </summary>
internal sealed record GenerationDefaults
{
    public double? Temperature { get; init; }
    public double? TopP { get; init; }
    public int? TopK { get; init; }
    public double? MinP { get; init; }
    public double? RepetitionPenalty { get; init; }
    public int? MaxNewTokens { get; init; }

    public static GenerationDefaults FromFolder(string directory)
    {
        var path = Path.Combine(directory, "generation_config.json");
        if (!File.Exists(path))
        {
            return new GenerationDefaults();
        }
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        return new GenerationDefaults
        {
            Temperature = Number(root, "temperature"),
            TopP = Number(root, "top_p"),
            TopK = (int?)Number(root, "top_k"),
            MinP = Number(root, "min_p"),
            RepetitionPenalty = Number(root, "repetition_penalty"),
            MaxNewTokens = (int?)Number(root, "max_new_tokens"),
        };
    }

    private static double? Number(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
}
