namespace ReasoningServe.AppHost.Hosting;

internal enum DistributedApplicationOperation
{
    Run,
    Publish,
}

/// <summary>Whether the app model is being run here or written out for a deployment tool.</summary>
internal sealed class DistributedApplicationExecutionContext(DistributedApplicationOperation operation)
{
    public DistributedApplicationOperation Operation { get; } = operation;

    public bool IsRunMode => Operation == DistributedApplicationOperation.Run;

    public bool IsPublishMode => Operation == DistributedApplicationOperation.Publish;
}
