namespace ReasoningServe.AppHost.Orchestration;

/// <summary>
/// The one console every resource writes to: each line prefixed with its source, whole lines only, and every
/// registered secret value replaced by *** wherever it appears (a child echoing its environment included).
/// </summary>
internal sealed class ConsoleLog(TextWriter output)
{
    public const string Mask = "***";
    public const string AppHostSource = "apphost";

    private readonly Lock _lock = new();
    private readonly List<string> _secrets = [];

    public static ConsoleLog Standard { get; } = new(Console.Out);

    public void AddSecret(string value)
    {
        lock (_lock)
        {
            if (value.Length > 0 && !_secrets.Contains(value))
            {
                _secrets.Add(value);
                // Longest first, so a secret containing another is masked whole.
                _secrets.Sort((a, b) => b.Length.CompareTo(a.Length));
            }
        }
    }

    public void Write(string source, string line)
    {
        lock (_lock)
        {
            foreach (var secret in _secrets)
            {
                line = line.Replace(secret, Mask, StringComparison.Ordinal);
            }
            output.WriteLine($"{source,-14}| {line}");
            output.Flush();
        }
    }

    public void Info(string line) => Write(AppHostSource, line);

    public void Warn(string line) => Write(AppHostSource, "warning: " + line);
}
