using Microsoft.Extensions.Configuration;
using ReasoningServe.AppHost.Hosting;

namespace ReasoningServe.AppHost.LLM;

/// <summary>One LLM deployment of the app: the resource name and its config.</summary>
internal sealed record ServeDeployment(string Name, LLMConfig Config);

/// <summary>
/// What to serve: a Ray Serve LLM application (<c>--config FILE.yaml</c>) or, without one, the project's default
/// model — or another model folder or hub id given as <c>--model-source</c> (named <c>--model-id</c>, Ray's
/// model_loading_config fields; also <c>ModelSource</c>/<c>ModelId</c> from the environment or appsettings).
/// The port comes from <c>--port</c>, else the file's <c>http_options.port</c>, else 8000 (Ray's default too).
/// </summary>
internal sealed record ServeApplication(string Name, IReadOnlyList<ServeDeployment> Deployments, int ApiPort)
{
    public const string ConfigKey = "config";
    public const string PortKey = "port";
    public const string ModelSourceKey = "model-source";
    public const string ModelIdKey = "model-id";

    public static ServeApplication FromConfiguration(IConfiguration configuration)
    {
        var port = configuration.GetValue<int?>(PortKey);
        if (configuration[ConfigKey] is not { Length: > 0 } path)
        {
            return new ServeApplication("default", [new ServeDeployment("inference", DefaultModel(configuration))],
                port ?? LLMBuilderExtensions.DefaultApiPort);
        }
        var (application, diagnostics) = RayServeConfigReader.Read(path);
        foreach (var diagnostic in diagnostics)
        {
            Console.Error.WriteLine($"apphost: {path}: {diagnostic}");
        }
        if (application is null)
        {
            throw new AppHostConfigurationException(
                $"{path} cannot be served as written ({diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error)} error(s) above).");
        }
        return port is int explicitPort ? application with { ApiPort = explicitPort } : application;
    }

    private static LLMConfig DefaultModel(IConfiguration configuration)
    {
        string? source = configuration[ModelSourceKey] ?? configuration["ModelSource"];
        if (string.IsNullOrWhiteSpace(source))
        {
            return LLMConfig.Default;
        }
        string id = configuration[ModelIdKey] ?? configuration["ModelId"] ?? Path.GetFileName(source.TrimEnd('/', '\\'));
        return new LLMConfig
        {
            ModelId = id,
            ModelSource = source,
            EngineKwargs = { ReasoningParser = LLMConfig.Default.EngineKwargs.ReasoningParser },
        };
    }
}
