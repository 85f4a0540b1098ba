using System.Text.Json;

namespace ReasoningServe.Inference.Model;

/// <summary>
/// generation_config.json: the model author's default sampling settings. A null field was not in the file, so the
/// engine keeps its own default (vLLM applies only the fields a model actually sets).
/// </summary>
internal sealed record GenerationConfig
{
    public const string FileName = "generation_config.json";

    public static GenerationConfig Empty { get; } = new();

    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public int? TopK { get; init; }
    public float? MinP { get; init; }
    public float? RepetitionPenalty { get; init; }
    public int? MaxNewTokens { get; init; }
    public bool? DoSample { get; init; }

    /// <summary>Reads generation_config.json from a model folder; <see cref="Empty"/> when the file is absent.</summary>
    public static GenerationConfig FromFolder(string directory)
    {
        string path = Path.Combine(directory, FileName);
        using JsonDocument? document = JsonFields.Load(path, required: false);
        if (document is null)
        {
            return Empty;
        }
        var json = new JsonFields(path, document.RootElement);
        return new GenerationConfig
        {
            EosTokenIds = json.OptionalIntOrList("eos_token_id"),
            Temperature = json.OptionalFloat("temperature"),
            TopP = json.OptionalFloat("top_p"),
            TopK = json.OptionalInt("top_k"),
            MinP = json.OptionalFloat("min_p"),
            RepetitionPenalty = json.OptionalFloat("repetition_penalty"),
            MaxNewTokens = json.OptionalInt("max_new_tokens"),
            DoSample = json.OptionalBool("do_sample"),
        };
    }
}
