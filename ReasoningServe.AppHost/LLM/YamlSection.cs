using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace ReasoningServe.AppHost.LLM;

/// <summary>
/// Reads one YAML mapping field by field and remembers which keys were read, so that every key nobody asked for
/// is reported by name instead of being dropped.
/// </summary>
internal sealed class YamlSection(YamlMappingNode node, string path, List<ServeConfigDiagnostic> diagnostics)
{
    private readonly HashSet<string> _read = [];

    public string Path { get; } = path;

    public List<ServeConfigDiagnostic> Diagnostics { get; } = diagnostics;

    public string PathOf(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    public bool Has(string key) => Node(key) is not null;

    public IEnumerable<string> Keys()
    {
        foreach (var key in node.Children.Keys)
        {
            if (key is YamlScalarNode { Value: { } name })
            {
                yield return name;
            }
        }
    }

    public string? String(string key) => Scalar(key)?.Value;

    public int? Int(string key) => Parse<int>(key, "an integer", text => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null);

    public double? Double(string key) => Parse<double>(key, "a number", text => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null);

    public YamlSection? Section(string key) => Node(key) switch
    {
        null => null,
        YamlMappingNode mapping => new YamlSection(mapping, PathOf(key), Diagnostics),
        _ => Invalid<YamlSection>(key, "a mapping"),
    };

    public YamlSequenceNode? Sequence(string key) => Node(key) switch
    {
        null => null,
        YamlSequenceNode sequence => sequence,
        _ => Invalid<YamlSequenceNode>(key, "a list"),
    };

    /// <summary>A field Ray accepts that has no effect here: reported as a warning, with why.</summary>
    public void Ignore(string key, string reason)
    {
        if (Node(key) is not null)
        {
            Diagnostics.Add(new(DiagnosticSeverity.Warning, PathOf(key), $"ignored: {reason}"));
        }
    }

    public void Error(string key, string message) => Diagnostics.Add(new(DiagnosticSeverity.Error, PathOf(key), message));

    /// <summary>Call last: every key not read is an error, since a misspelt field silently ignored changes the deployment.</summary>
    public void ReportUnknownFields()
    {
        foreach (var key in node.Children.Keys)
        {
            if (key is YamlScalarNode { Value: { } name } && !_read.Contains(name))
            {
                Diagnostics.Add(new(DiagnosticSeverity.Error, PathOf(name), "unknown or unsupported field"));
            }
        }
    }

    private YamlNode? Node(string key)
    {
        _read.Add(key);
        return Find(key);
    }

    private YamlNode? Find(string key)
    {
        foreach (var (k, v) in node.Children)
        {
            if (k is YamlScalarNode { Value: var name } && name == key)
            {
                // `key:` with nothing after it is YAML null: treat as absent, as Ray's pydantic models do.
                return v is YamlScalarNode { Value: null or "" or "null" or "~", Style: YamlDotNet.Core.ScalarStyle.Plain } ? null : v;
            }
        }
        return null;
    }

    private YamlScalarNode? Scalar(string key) => Node(key) switch
    {
        null => null,
        YamlScalarNode scalar => scalar,
        _ => Invalid<YamlScalarNode>(key, "a single value"),
    };

    private T? Parse<T>(string key, string what, Func<string, T?> parse) where T : struct
    {
        if (Scalar(key) is not { Value: { } text })
        {
            return null;
        }
        if (parse(text) is T value)
        {
            return value;
        }
        Error(key, $"expected {what}, got '{text}'");
        return null;
    }

    private T? Invalid<T>(string key, string what) where T : class
    {
        Error(key, $"expected {what}");
        return null;
    }
}
