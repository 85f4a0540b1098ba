namespace ReasoningServe.Api.Options;

/// <summary>
/// The front's own flags, named like vLLM's: <c>--port</c> (default 8000), <c>--host</c>, <c>--api-key KEY...</c>,
/// <c>--upstream-api-key</c>. Other arguments are left to ASP.NET Core's command-line configuration.
/// </summary>
internal static class FrontCommandLine
{
    public const int DefaultPort = 8000;

    public static WebApplicationBuilder AddFrontOptions(this WebApplicationBuilder builder, string[] args)
    {
        var parsed = Parse(args);
        builder.Configuration.AddInMemoryCollection(parsed.Settings);
        builder.Services.Configure<FrontOptions>(builder.Configuration.GetSection(FrontOptions.Section));
        builder.Services.AddSingleton(sp => sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<FrontOptions>>().Value);

        // An explicit --port wins; otherwise whatever the host was given (Aspire sets ASPNETCORE_URLS / HTTP_PORTS) or 8000.
        if (parsed.Port is not null || !HasConfiguredUrls(builder.Configuration))
        {
            var host = parsed.Host ?? "*";
            builder.WebHost.UseUrls($"http://{host}:{parsed.Port ?? DefaultPort}");
        }
        return builder;
    }

    internal sealed record Parsed(Dictionary<string, string?> Settings, int? Port, string? Host);

    internal static Parsed Parse(IReadOnlyList<string> args)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        int? port = null;
        string? host = null;
        var keys = 0;
        for (var i = 0; i < args.Count; i++)
        {
            var (name, inline) = Split(args[i]);
            switch (name)
            {
                case "--port":
                    var text = inline ?? Next(args, ref i, name);
                    port = int.TryParse(text, out var p) && p is >= 0 and <= 65535
                        ? p : throw new ArgumentException($"--port needs a port number, not '{text}'.");
                    break;
                case "--host":
                    host = inline ?? Next(args, ref i, name);
                    break;
                case "--upstream-api-key":
                    settings[$"{FrontOptions.Section}:{nameof(FrontOptions.UpstreamApiKey)}"] = inline ?? Next(args, ref i, name);
                    break;
                case "--api-key":
                    // Several keys, vLLM-style: --api-key a b c (or the flag repeated).
                    var taken = 0;
                    if (inline is not null)
                    {
                        settings[$"{FrontOptions.Section}:{nameof(FrontOptions.ApiKey)}:{keys++}"] = inline;
                        taken++;
                    }
                    while (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                    {
                        settings[$"{FrontOptions.Section}:{nameof(FrontOptions.ApiKey)}:{keys++}"] = args[++i];
                        taken++;
                    }
                    if (taken == 0)
                    {
                        throw new ArgumentException("--api-key needs at least one key.");
                    }
                    break;
            }
        }
        return new Parsed(settings, port, host);
    }

    private static string Next(IReadOnlyList<string> args, ref int i, string name) =>
        i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value.");

    private static (string Name, string? Value) Split(string arg)
    {
        if (!arg.StartsWith("--", StringComparison.Ordinal))
        {
            return (arg, null);
        }
        var eq = arg.IndexOf('=');
        var name = "--" + (eq < 0 ? arg[2..] : arg[2..eq]).Replace('_', '-');
        return (name, eq < 0 ? null : arg[(eq + 1)..]);
    }

    private static bool HasConfiguredUrls(IConfiguration configuration) =>
        !string.IsNullOrEmpty(configuration["urls"]) || !string.IsNullOrEmpty(configuration["ASPNETCORE_URLS"])
        || !string.IsNullOrEmpty(configuration["http_ports"]) || !string.IsNullOrEmpty(configuration["HTTP_PORTS"]);
}
