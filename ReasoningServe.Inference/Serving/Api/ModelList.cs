namespace ReasoningServe.Inference.Serving.Api;

internal sealed class ModelList
{
    public string Object => "list";
    public required List<ModelCard> Data { get; init; }
}

internal sealed class ModelCard
{
    public required string Id { get; init; }
    public string Object => "model";
    public required long Created { get; init; }
    public string OwnedBy => "reasoningserve";
    public required string Root { get; init; }
    public string? Parent => null;
    public required int MaxModelLen { get; init; }
}
