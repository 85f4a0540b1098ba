using Microsoft.AspNetCore.Diagnostics.HealthChecks;

namespace ReasoningServe.Api.Telemetry;

/// <summary>
/// /health (all checks) and /alive (the process answers). ServiceDefaults' MapDefaultEndpoints maps the same two
/// paths; when it lands on main, Program.cs calls that instead and this file goes.
/// </summary>
internal static class HealthEndpoints
{
    public static WebApplication MapFrontHealth(this WebApplication app)
    {
        app.MapHealthChecks("/health");
        app.MapHealthChecks("/alive", new HealthCheckOptions { Predicate = _ => false });
        return app;
    }
}
