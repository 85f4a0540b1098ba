namespace ReasoningServe.AppHost.Hosting;

/// <summary>A .NET project of this solution, run locally from its built assembly and published as <c>project.v0</c>.</summary>
internal class ProjectResource : Resource
{
    public ProjectResource(string name, IProjectMetadata metadata) : base(name)
    {
        Metadata = metadata;
        HealthCheckPath = "/health";
    }

    public IProjectMetadata Metadata { get; }
}

/// <summary>Any program on the PATH (Aspire's <c>AddExecutable</c>): run locally, not published.</summary>
internal sealed class ExecutableResource(string name, string command, string workingDirectory) : Resource(name)
{
    public string Command { get; } = command;

    public string WorkingDirectory { get; } = workingDirectory;
}
