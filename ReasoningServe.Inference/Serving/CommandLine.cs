namespace ReasoningServe.Inference.Serving;

/// <summary>
/// vLLM-style flags → configuration keys under "Inference". The table is the whole grammar: a flag takes one value,
/// or several for list settings (vLLM's nargs="+"), or none for switches ("--enforce-eager" means true);
/// "--flag=value", underscores for dashes and a leading positional model path (as in `vllm serve MODEL`) are accepted. Anything else is refused with the list of known flags.
/// </summary>
internal static class CommandLine
{
    private sealed record Flag(string Key, bool IsList = false, bool IsSwitch = false);

    private static readonly Dictionary<string, Flag> Flags = new(StringComparer.Ordinal)
    {
        ["--model"] = new(nameof(ServerOptions.Model)),
        ["--served-model-name"] = new(nameof(ServerOptions.ServedModelName), IsList: true),
        ["--host"] = new(nameof(ServerOptions.Host)),
        ["--port"] = new(nameof(ServerOptions.Port)),
        ["--device"] = new(nameof(ServerOptions.Device)),
        ["--max-model-len"] = new(nameof(ServerOptions.MaxModelLen)),
        ["--reasoning-parser"] = new(nameof(ServerOptions.ReasoningParser)),
        ["--reasoning-field"] = new(nameof(ServerOptions.ReasoningField)),
        ["--api-key"] = new(nameof(ServerOptions.ApiKey), IsList: true),
        ["--tensor-parallel-size"] = new(nameof(ServerOptions.TensorParallelSize)),
        ["--gpu-memory-utilization"] = new(nameof(ServerOptions.GpuMemoryUtilization)),
        ["--max-num-seqs"] = new(nameof(ServerOptions.MaxNumSeqs)),
        ["--max-num-batched-tokens"] = new(nameof(ServerOptions.MaxNumBatchedTokens)),
        ["--load-format"] = new(nameof(ServerOptions.LoadFormat)),
        ["--default-chat-template-kwargs"] = new(nameof(ServerOptions.DefaultChatTemplateKwargs)),
        ["--chat-template"] = new(nameof(ServerOptions.ChatTemplate)),
        ["--seed"] = new(nameof(ServerOptions.Seed)),
        ["--kv-cache-space"] = new(nameof(ServerOptions.KvCacheSpace)),
        ["--shutdown-timeout"] = new(nameof(ServerOptions.ShutdownTimeout)),
        ["--enforce-eager"] = new(nameof(ServerOptions.EnforceEager), IsSwitch: true),
    };

    public static IEnumerable<string> KnownFlags => Flags.Keys;

    /// <summary>Configuration entries ("Inference:Model" → value) for the given arguments.</summary>
    public static Dictionary<string, string?> Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        if (args.Count > 0 && !args[0].StartsWith('-'))
        {
            values[$"{ServerOptions.Section}:{nameof(ServerOptions.Model)}"] = args[0];
            i = 1;
        }
        while (i < args.Count)
        {
            var arg = args[i++];
            var (name, inlineValue) = Split(arg);
            if (!Flags.TryGetValue(name, out var flag))
            {
                throw new ServerOptionsException(arg.StartsWith('-')
                    ? $"Unknown flag '{name}'. Known flags: {string.Join(", ", Flags.Keys)}."
                    : $"Unexpected argument '{arg}': every value must follow a flag.");
            }
            var taken = new List<string>();
            if (inlineValue is not null)
            {
                taken.Add(inlineValue);
            }
            else if (flag.IsSwitch)
            {
                taken.Add("true");
            }
            while (i < args.Count && !IsFlag(args[i]) && (taken.Count == 0 || flag.IsList))
            {
                taken.Add(args[i++]);
            }
            if (taken.Count == 0)
            {
                throw new ServerOptionsException($"Flag '{name}' needs a value.");
            }
            var key = $"{ServerOptions.Section}:{flag.Key}";
            if (flag.IsList)
            {
                for (var k = 0; k < taken.Count; k++)
                {
                    values[$"{key}:{k}"] = taken[k];
                }
            }
            else
            {
                values[key] = taken[0];
            }
        }
        return values;
    }

    // Negative numbers ("--seed -1") are values, not flags.
    private static bool IsFlag(string arg) => arg.StartsWith("--", StringComparison.Ordinal);

    private static (string Name, string? Value) Split(string arg)
    {
        var eq = arg.IndexOf('=');
        var name = eq < 0 ? arg : arg[..eq];
        name = name.StartsWith("--", StringComparison.Ordinal) ? "--" + name[2..].Replace('_', '-') : name;
        return (name, eq < 0 ? null : arg[(eq + 1)..]);
    }
}
