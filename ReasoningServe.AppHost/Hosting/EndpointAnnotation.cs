namespace ReasoningServe.AppHost.Hosting;

/// <summary>
/// A named endpoint, as Aspire's manifest binding describes it. <see cref="Port"/> is the port clients use and
/// <see cref="TargetPort"/> the one the process listens on inside its container. Locally there is no proxy in
/// between, so a process listens on <see cref="Port"/> when given (single replica) or on a free loopback port.
/// </summary>
internal sealed record EndpointAnnotation(string Name, string Scheme, int? Port = null, int? TargetPort = null, bool IsExternal = false)
{
    public string Transport => Scheme is "http" or "https" ? "http" : Scheme;
}
