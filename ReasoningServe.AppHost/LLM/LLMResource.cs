using ReasoningServe.AppHost.Hosting;

namespace ReasoningServe.AppHost.LLM;

/// <summary>An LLM deployment: replicas of the Inference project serving one <see cref="LLMConfig"/>.</summary>
internal sealed class LLMResource(string name, LLMConfig config) : ProjectResource(name, new Projects.ReasoningServe_Inference())
{
    public LLMConfig Config { get; } = config;

    public string Device => Config.EngineKwargs.Device
        ?? Config.AcceleratorType switch
        {
            null or "" => "auto",
            var type when type.Equals("cpu", StringComparison.OrdinalIgnoreCase) => "cpu",
            _ => "cuda",
        };

    /// <summary>
    /// The model argument for a local run: an existing folder as an absolute path, otherwise the source as given
    /// when it reads as a hub id. A missing folder is an error here, not a replica that crashes in a loop.
    /// </summary>
    public string ResolveLocalModel(string repositoryRoot)
    {
        var source = Config.ModelSource ?? Config.ModelId;
        if (Path.IsPathRooted(source))
        {
            return Directory.Exists(source) ? source : throw MissingFolder(source);
        }
        foreach (var baseDirectory in new[] { Config.BaseDirectory, Directory.GetCurrentDirectory(), repositoryRoot })
        {
            if (baseDirectory is not null && Directory.Exists(Path.Combine(baseDirectory, source)))
            {
                return Path.GetFullPath(Path.Combine(baseDirectory, source));
            }
        }
        if (source == LLMConfig.DefaultModelSource)
        {
            throw new AppHostConfigurationException(
                $"The default model folder '{Path.Combine(repositoryRoot, source)}' does not exist yet (it is produced by issue 4). "
                + "Serve another model with --config FILE.yaml (see examples/), or add the folder.");
        }
        if (source.StartsWith('.') || source.EndsWith('/') || source.Split('/').Length != 2)
        {
            throw MissingFolder(source);
        }
        return source;
    }

    private AppHostConfigurationException MissingFolder(string source) =>
        new($"{Name}: model_source '{source}' is not an existing folder.");
}
