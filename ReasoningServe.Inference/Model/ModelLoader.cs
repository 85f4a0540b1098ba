using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Inference.Model;

/// <summary>A loaded model folder: what the backend needs to run and what the engine needs to sample.</summary>
internal sealed class LoadedModel(ModelConfig config, GenerationConfig generation, ModelWeights weights) : IDisposable
{
    public ModelConfig Config { get; } = config;
    public GenerationConfig Generation { get; } = generation;
    public ModelWeights Weights { get; } = weights;

    public void Dispose() => Weights.Dispose();
}

/// <summary>Entry point for loading a Hugging Face model folder (config.json, generation_config.json, safetensors).</summary>
internal static class ModelLoader
{
    public const string ConfigFileName = "config.json";

    public static LoadedModel Load(string directory, LoadFormat format = LoadFormat.Auto)
    {
        if (!Directory.Exists(directory))
        {
            throw new ModelLoadException($"{directory}: model folder not found.");
        }
        string configPath = Path.Combine(directory, ConfigFileName);
        ModelConfig config = ModelConfig.FromFile(configPath);
        GenerationConfig generation = GenerationConfig.FromFolder(directory);
        ModelWeights weights = format == LoadFormat.Dummy
            ? DummyWeights.Create(config, TensorDTypes.FromTorchDtype(config.TorchDtype))
            : LoadSafeTensors(directory, config, configPath);
        return new LoadedModel(config, generation, weights);
    }

    private static ModelWeights LoadSafeTensors(string directory, ModelConfig config, string configPath)
    {
        SafeTensorsCheckpoint checkpoint = SafeTensorsCheckpoint.Open(directory);
        try
        {
            return WeightLayout.FromCheckpoint(config, checkpoint, configPath);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }
}
