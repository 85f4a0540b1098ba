namespace ReasoningServe.AppHost.LLM;

internal enum DiagnosticSeverity
{
    Warning,
    Error,
}

/// <summary>A finding about a Ray Serve config field, named by its full path (<c>applications[0].args.llm_configs[0].engine_kwargs.dtype</c>).</summary>
internal sealed record ServeConfigDiagnostic(DiagnosticSeverity Severity, string Path, string Message)
{
    public override string ToString() => $"{(Severity == DiagnosticSeverity.Error ? "error" : "warning")}: {Path}: {Message}";
}
