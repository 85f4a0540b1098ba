namespace ReasoningServe.AppHost.Hosting;

/// <summary>
/// How a resource's image is built when published (Aspire's <c>DockerfileBuildAnnotation</c>): the manifest then
/// describes a <c>container.v1</c> with <c>build: {context, dockerfile, args}</c> instead of a project, and azd builds
/// that Dockerfile and pushes the image. Paths are absolute here and written relative to the manifest's folder.
/// </summary>
internal sealed record DockerfileBuildAnnotation(string ContextPath, string DockerfilePath)
{
    /// <summary>Build arguments (<c>--build-arg NAME=VALUE</c>), in the order they were added.</summary>
    public Dictionary<string, string> BuildArgs { get; } = [];
}
