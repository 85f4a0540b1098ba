namespace Microsoft.Extensions.Hosting;

/// <summary>Shared service defaults (telemetry, health, discovery); filled in by issue 5.</summary>
public static class Extensions
{
}
