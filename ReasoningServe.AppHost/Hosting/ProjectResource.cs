namespace ReasoningServe.AppHost.Hosting;

/// <summary>
/// A .NET project of this solution, run locally from its built assembly and published as <c>project.v0</c>, or as a
/// <c>container.v1</c> built from its Dockerfile when <see cref="DockerfileBuild"/> is set (<c>PublishAsDockerFile</c>).
/// </summary>
internal class ProjectResource : Resource
{
    public ProjectResource(string name, IProjectMetadata metadata) : base(name)
    {
        Metadata = metadata;
        HealthCheckPath = "/health";
    }

    public IProjectMetadata Metadata { get; }

    /// <summary>Null: azd containerises the project itself (<c>dotnet publish /t:PublishContainer</c>).</summary>
    public DockerfileBuildAnnotation? DockerfileBuild { get; set; }
}

/// <summary>Any program on the PATH (Aspire's <c>AddExecutable</c>): run locally, not published.</summary>
internal sealed class ExecutableResource(string name, string command, string workingDirectory) : Resource(name)
{
    public string Command { get; } = command;

    public string WorkingDirectory { get; } = workingDirectory;
}
