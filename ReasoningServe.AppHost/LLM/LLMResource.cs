using ReasoningServe.AppHost.Hosting;

namespace ReasoningServe.AppHost.LLM;

/// <summary>An LLM deployment: replicas of the Inference project serving one <see cref="LLMConfig"/>.</summary>
internal sealed class LLMResource(string name, LLMConfig config) : ProjectResource(name, new Projects.ReasoningServe_Inference())
{
    /// <summary>Where the inference image holds the model it serves (docker/inference.Dockerfile copies it there).</summary>
    public const string ImageModelPath = "/app/model";

    /// <summary>The Dockerfile's build argument naming the model folder to copy in, relative to the build context.</summary>
    public const string ModelDirectoryBuildArg = "MODEL_DIR";

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

    /// <summary>
    /// The model as the published container sees it: a folder of the repository (the image's build context) is built
    /// into the image and served from <see cref="ImageModelPath"/>; a hub id is passed through as it is.
    /// </summary>
    public (string ModelArgument, string? ModelDirectory) ResolveImageModel(string repositoryRoot)
    {
        var local = ResolveLocalModel(repositoryRoot);
        if (!Path.IsPathRooted(local))
        {
            return (local, null);
        }
        var relative = Path.GetRelativePath(repositoryRoot, local);
        if (relative == "." || relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative))
        {
            throw new AppHostConfigurationException(
                $"{Name}: model folder '{local}' is outside the repository, the build context of the inference image; "
                + "move or copy it under the repository (e.g. models/) to publish it.");
        }
        return (ImageModelPath, relative.Replace('\\', '/'));
    }

    private AppHostConfigurationException MissingFolder(string source) =>
        new($"{Name}: model_source '{source}' is not an existing folder.");
}
