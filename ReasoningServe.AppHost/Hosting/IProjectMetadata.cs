namespace ReasoningServe.AppHost.Hosting;

/// <summary>What the build knows about a referenced project (Aspire's generated <c>Projects.X</c> classes).</summary>
internal interface IProjectMetadata
{
    /// <summary>Absolute path of the .csproj.</summary>
    string ProjectPath { get; }

    /// <summary>Absolute path of the built assembly, run locally as <c>dotnet TargetPath</c>.</summary>
    string TargetPath { get; }
}
