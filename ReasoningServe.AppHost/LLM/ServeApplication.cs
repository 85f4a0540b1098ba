using Microsoft.Extensions.Configuration;
using ReasoningServe.AppHost.Hosting;

namespace ReasoningServe.AppHost.LLM;

/// <summary>One LLM deployment of the app: the resource name and its config.</summary>
internal sealed record ServeDeployment(string Name, LLMConfig Config);

/// <summary>
/// What to serve: a Ray Serve LLM application (<c>--config FILE.yaml</c>) or, without one, the project's default
/// model. The port comes from <c>--port</c>, else the file's <c>http_options.port</c>, else 8000 (Ray's default too).
/// </summary>
internal sealed record ServeApplication(string Name, IReadOnlyList<ServeDeployment> Deployments, int ApiPort)
{
    public const string ConfigKey = "config";
    public const string PortKey = "port";

    public static ServeApplication FromConfiguration(IConfiguration configuration)
    {
        var port = configuration.GetValue<int?>(PortKey);
        if (configuration[ConfigKey] is not { Length: > 0 } path)
        {
            return new ServeApplication("default", [new ServeDeployment("inference", LLMConfig.Default)], port ?? LLMBuilderExtensions.DefaultApiPort);
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
}
