using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace ReasoningServe.Tests.AppHost;

internal sealed record DockerInstruction(string Keyword, string Arguments);

/// <summary>One build stage: its expanded base image, its name, and its instructions with variables expanded.</summary>
internal sealed record DockerStage(string BaseImage, string? Name, List<DockerInstruction> Instructions, Dictionary<string, string> Variables)
{
    public IEnumerable<DockerInstruction> All(string keyword) => Instructions.Where(i => i.Keyword == keyword);

    public Dictionary<string, string> Environment()
    {
        var environment = new Dictionary<string, string>();
        foreach (var instruction in All("ENV"))
        {
            foreach (var pair in instruction.Arguments.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=');
                environment[pair[..eq]] = pair[(eq + 1)..];
            }
        }
        return environment;
    }

    public string[] ExecForm(string keyword) => JsonSerializer.Deserialize<string[]>(All(keyword).Last().Arguments)!;
}

/// <summary>A COPY's flags (<c>--from=build</c>), sources and destination.</summary>
internal sealed record DockerCopy(string? From, IReadOnlyList<string> Sources, string Destination)
{
    public static DockerCopy Parse(DockerInstruction copy)
    {
        var tokens = copy.Arguments.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        var from = tokens.FirstOrDefault(t => t.StartsWith("--from=", StringComparison.Ordinal))?["--from=".Length..];
        var paths = tokens.Where(t => !t.StartsWith("--", StringComparison.Ordinal)).ToArray();
        return new DockerCopy(from, paths[..^1], paths[^1]);
    }
}

/// <summary>
/// Just enough of the Dockerfile grammar to check our two files without a Docker engine: line continuations, comments,
/// global ARGs (visible to FROM, and inside a stage once re-declared), stage ARG and ENV values, <c>${NAME}</c>/<c>$NAME</c>.
/// </summary>
internal static partial class DockerfileDocument
{
    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex Variable();

    public static (Dictionary<string, string> GlobalArgs, List<DockerStage> Stages) Parse(string path)
    {
        var globalArgs = new Dictionary<string, string>();
        var stages = new List<DockerStage>();
        DockerStage? stage = null;
        foreach (var (keyword, arguments) in LogicalLines(File.ReadAllLines(path)))
        {
            var scope = stage?.Variables ?? globalArgs;
            switch (keyword)
            {
                case "FROM":
                    var parts = Expand(arguments, globalArgs).Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    stage = new DockerStage(parts[0], parts.Length >= 3 && parts[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? parts[2] : null, [], []);
                    stages.Add(stage);
                    continue;
                case "ARG":
                    var eq = arguments.IndexOf('=');
                    var name = eq < 0 ? arguments.Trim() : arguments[..eq].Trim();
                    if (eq >= 0)
                    {
                        scope[name] = Expand(arguments[(eq + 1)..].Trim(), scope);
                    }
                    else if (stage is not null && globalArgs.TryGetValue(name, out var inherited))
                    {
                        scope[name] = inherited;
                    }
                    break;
            }
            if (stage is null)
            {
                continue;
            }
            var expanded = keyword is "RUN" or "CMD" or "ENTRYPOINT" ? arguments : Expand(arguments, stage.Variables);
            stage.Instructions.Add(new DockerInstruction(keyword, expanded));
            if (keyword == "ENV")
            {
                foreach (var (variable, value) in new DockerStage("", null, [new DockerInstruction("ENV", expanded)], []).Environment())
                {
                    stage.Variables[variable] = value;
                }
            }
        }
        return (globalArgs, stages);
    }

    private static string Expand(string text, Dictionary<string, string> variables) =>
        Variable().Replace(text, m =>
        {
            var name = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value;
            return variables.TryGetValue(name, out var value) ? value : m.Value;
        });

    private static IEnumerable<(string Keyword, string Arguments)> LogicalLines(string[] lines)
    {
        var current = new StringBuilder();
        foreach (var raw in lines)
        {
            var line = raw.TrimEnd();
            if (line.TrimStart().StartsWith('#') || (current.Length == 0 && line.Length == 0))
            {
                continue;
            }
            if (line.EndsWith('\\'))
            {
                current.Append(line[..^1]).Append(' ');
                continue;
            }
            current.Append(line);
            var text = current.ToString().Trim();
            current.Clear();
            var space = text.IndexOfAny([' ', '\t']);
            yield return (text[..space].ToUpperInvariant(), text[(space + 1)..].Trim());
        }
    }
}

/// <summary>.dockerignore as Docker applies it: patterns relative to the context, a match excludes the path and all below it, '!' re-includes.</summary>
internal sealed class DockerIgnore
{
    private readonly List<(Regex Pattern, bool Exclude)> _rules = [];

    public DockerIgnore(string path)
    {
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var exclude = !line.StartsWith('!');
            var pattern = line.TrimStart('!').Trim('/');
            var regex = new StringBuilder("^");
            for (var i = 0; i < pattern.Length; i++)
            {
                if (pattern[i] == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
                {
                    // "**/" matches any number of folders, including none.
                    regex.Append(i + 2 < pattern.Length && pattern[i + 2] == '/' ? "(?:.*/)?" : ".*");
                    i += i + 2 < pattern.Length && pattern[i + 2] == '/' ? 2 : 1;
                }
                else
                {
                    regex.Append(pattern[i] switch { '*' => "[^/]*", '?' => "[^/]", var c => Regex.Escape(c.ToString()) });
                }
            }
            _rules.Add((new Regex(regex.Append('$').ToString()), exclude));
        }
    }

    public bool IsIgnored(string relativePath)
    {
        var path = relativePath.Replace('\\', '/').Trim('/');
        var ignored = false;
        foreach (var (pattern, exclude) in _rules)
        {
            if (Prefixes(path).Any(pattern.IsMatch))
            {
                ignored = exclude;
            }
        }
        return ignored;
    }

    private static IEnumerable<string> Prefixes(string path)
    {
        for (var slash = path.IndexOf('/'); slash >= 0; slash = path.IndexOf('/', slash + 1))
        {
            yield return path[..slash];
        }
        yield return path;
    }
}
