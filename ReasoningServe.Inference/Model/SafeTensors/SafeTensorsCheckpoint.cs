using System.Text.Json;

namespace ReasoningServe.Inference.Model.SafeTensors;

/// <summary>
/// All safetensors of a model folder: model.safetensors, or the shards listed in model.safetensors.index.json's
/// weight_map. Lookups name the file a tensor should have come from, so a missing shard is easy to spot.
/// </summary>
internal sealed class SafeTensorsCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files;
    private readonly Dictionary<string, SafeTensorsFile> _owner;
    private readonly string _description;

    private SafeTensorsCheckpoint(List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> owner, string description)
    {
        _files = files;
        _owner = owner;
        _description = description;
    }

    public IReadOnlyList<SafeTensorsFile> Files => _files;

    public static SafeTensorsCheckpoint Open(string directory)
    {
        string indexPath = Path.Combine(directory, IndexFileName);
        if (File.Exists(indexPath))
        {
            return OpenSharded(directory, indexPath);
        }
        string singlePath = Path.Combine(directory, SingleFileName);
        if (!File.Exists(singlePath))
        {
            throw new ModelLoadException($"{directory}: no {SingleFileName} or {IndexFileName} found.");
        }
        SafeTensorsFile file = SafeTensorsFile.Open(singlePath);
        var owner = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        foreach (string name in file.Tensors.Keys)
        {
            owner[name] = file;
        }
        return new SafeTensorsCheckpoint([file], owner, singlePath);
    }

    private static SafeTensorsCheckpoint OpenSharded(string directory, string indexPath)
    {
        Dictionary<string, string> weightMap = ReadWeightMap(indexPath);
        var files = new List<SafeTensorsFile>();
        var byFileName = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        var owner = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach ((string tensorName, string fileName) in weightMap)
            {
                if (!byFileName.TryGetValue(fileName, out SafeTensorsFile? file))
                {
                    string shardPath = Path.Combine(directory, fileName);
                    if (!File.Exists(shardPath))
                    {
                        throw new ModelLoadException($"{indexPath}: shard {fileName} (holding '{tensorName}') not found in {directory}.");
                    }
                    file = SafeTensorsFile.Open(shardPath);
                    files.Add(file);
                    byFileName[fileName] = file;
                }
                if (!file.Tensors.ContainsKey(tensorName))
                {
                    throw new ModelLoadException($"{file.Path}: tensor '{tensorName}' is missing (listed there by {IndexFileName}).");
                }
                owner[tensorName] = file;
            }
        }
        catch
        {
            foreach (SafeTensorsFile file in files)
            {
                file.Dispose();
            }
            throw;
        }
        return new SafeTensorsCheckpoint(files, owner, indexPath);
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!document.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
            {
                throw new ModelLoadException($"{indexPath}: missing the weight_map object.");
            }
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                {
                    throw new ModelLoadException($"{indexPath}: weight_map entry '{entry.Name}' is not a file name.");
                }
                result[entry.Name] = entry.Value.GetString()!;
            }
            return result;
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"{indexPath}: not valid JSON ({e.Message}).", e);
        }
    }

    public bool Contains(string name) => _owner.ContainsKey(name);

    public TensorView Get(string name) =>
        _owner.TryGetValue(name, out SafeTensorsFile? file)
            ? file.Get(name)
            : throw new ModelLoadException($"{_description}: tensor '{name}' is missing.");

    public void Dispose()
    {
        foreach (SafeTensorsFile file in _files)
        {
            file.Dispose();
        }
    }
}
