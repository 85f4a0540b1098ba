using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text.Json;

namespace ReasoningServe.Inference.Model.SafeTensors;

/// <summary>
/// One memory-mapped .safetensors file: an 8-byte little-endian header length, a JSON header mapping tensor names to
/// {dtype, shape, data_offsets}, then the raw data. Tensors are views into the mapping; nothing is copied into managed
/// memory, so a 16 GB checkpoint costs page cache, not heap.
/// </summary>
internal sealed unsafe class SafeTensorsFile : IDisposable
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly Dictionary<string, TensorView> _tensors;

    public string Path { get; }
    public IReadOnlyDictionary<string, TensorView> Tensors => _tensors;

    private SafeTensorsFile(string path, MemoryMappedFile file, MemoryMappedViewAccessor view, byte* basePointer, Dictionary<string, TensorView> tensors)
    {
        Path = path;
        _file = file;
        _view = view;
        _base = basePointer;
        _tensors = tensors;
    }

    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new ModelLoadException($"{path}: file not found.");
        }
        long fileLength = new FileInfo(path).Length;
        if (fileLength < 8)
        {
            throw new ModelLoadException($"{path}: truncated file ({fileLength} bytes; a safetensors file starts with an 8-byte header length).");
        }
        MemoryMappedFile file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        bool acquired = false;
        try
        {
            view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            acquired = true;
            pointer += view.PointerOffset;
            Dictionary<string, TensorView> tensors = ParseHeader(path, pointer, fileLength);
            return new SafeTensorsFile(path, file, view, pointer, tensors);
        }
        catch
        {
            if (acquired)
            {
                view!.SafeMemoryMappedViewHandle.ReleasePointer();
            }
            view?.Dispose();
            file.Dispose();
            throw;
        }
    }

    public bool TryGet(string name, out TensorView tensor) => _tensors.TryGetValue(name, out tensor!);

    public TensorView Get(string name) =>
        _tensors.TryGetValue(name, out TensorView? tensor)
            ? tensor
            : throw new ModelLoadException($"{Path}: tensor '{name}' is missing.");

    private static Dictionary<string, TensorView> ParseHeader(string path, byte* data, long fileLength)
    {
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(data, 8));
        if (headerLength > (ulong)(fileLength - 8))
        {
            throw new ModelLoadException($"{path}: truncated file or bad header: header length {headerLength} exceeds the {fileLength - 8} bytes after it.");
        }
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;
        var header = new ReadOnlySpan<byte>(data + 8, checked((int)headerLength)).ToArray();

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"{path}: bad header: not valid JSON ({e.Message}).", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ModelLoadException($"{path}: bad header: expected a JSON object.");
            }
            var tensors = new Dictionary<string, TensorView>(StringComparer.Ordinal);
            foreach (JsonProperty entry in document.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                {
                    continue;
                }
                tensors[entry.Name] = ParseEntry(path, entry, data + dataStart, dataLength);
            }
            return tensors;
        }
    }

    private static TensorView ParseEntry(string path, JsonProperty entry, byte* data, long dataLength)
    {
        string name = entry.Name;
        JsonElement value = entry.Value;
        if (value.ValueKind != JsonValueKind.Object
            || !value.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !value.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !value.TryGetProperty("data_offsets", out JsonElement offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
        {
            throw new ModelLoadException($"{path}: bad header: tensor '{name}' needs dtype, shape and two data_offsets.");
        }
        string dtypeName = dtypeElement.GetString()!;
        if (!TensorDTypes.TryParse(dtypeName, out TensorDType dtype))
        {
            throw new ModelLoadException($"{path}: tensor '{name}' has unsupported dtype {dtypeName} (supported: BF16, F16, F32).");
        }
        var shape = new int[shapeElement.GetArrayLength()];
        long elements = 1;
        int i = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
        {
            if (!dim.TryGetInt32(out int d) || d < 0)
            {
                throw new ModelLoadException($"{path}: bad header: tensor '{name}' has an invalid shape.");
            }
            shape[i++] = d;
            elements *= d;
        }
        if (!offsetsElement[0].TryGetInt64(out long begin) || !offsetsElement[1].TryGetInt64(out long end) || begin < 0 || end < begin)
        {
            throw new ModelLoadException($"{path}: bad header: tensor '{name}' has invalid data_offsets.");
        }
        if (end > dataLength)
        {
            throw new ModelLoadException($"{path}: truncated file or offsets out of range: tensor '{name}' ends at byte {end} of a {dataLength}-byte data section.");
        }
        if (end - begin != elements * dtype.SizeOf())
        {
            throw new ModelLoadException($"{path}: bad header: tensor '{name}' spans {end - begin} bytes but shape [{string.Join(", ", shape)}] of {dtypeName} needs {elements * dtype.SizeOf()}.");
        }
        return new TensorView(name, dtype, shape, (nint)(data + begin));
    }

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}
