using Microsoft.Extensions.Configuration;
using ReasoningServe.AppHost.Orchestration;

namespace ReasoningServe.AppHost.Hosting;

internal interface IDistributedApplicationBuilder
{
    ConfigurationManager Configuration { get; }

    DistributedApplicationExecutionContext ExecutionContext { get; }

    IReadOnlyList<Resource> Resources { get; }

    IResourceBuilder<T> AddResource<T>(T resource) where T : Resource;

    DistributedApplication Build();
}

internal sealed class DistributedApplicationBuilder : IDistributedApplicationBuilder
{
    private readonly List<Resource> _resources = [];

    public DistributedApplicationBuilder(string[] args)
    {
        Configuration = new ConfigurationManager();
        Configuration.AddEnvironmentVariables();
        // Aspire's switches, so azd's `--publisher manifest --output-path FILE` lands where Aspire reads it.
        Configuration.AddCommandLine(args, new Dictionary<string, string>
        {
            ["--publisher"] = "Publishing:Publisher",
            ["--output-path"] = "Publishing:OutputPath",
        });
        if (Enum.TryParse<RedisMode>(Configuration["AppHost:Redis"]?.Replace("-", ""), ignoreCase: true, out var redisMode))
        {
            RunOptions = RunOptions with { Redis = redisMode };
        }
        ExecutionContext = new DistributedApplicationExecutionContext(
            string.IsNullOrEmpty(Configuration["Publishing:Publisher"]) ? DistributedApplicationOperation.Run : DistributedApplicationOperation.Publish);
    }

    public ConfigurationManager Configuration { get; }

    public DistributedApplicationExecutionContext ExecutionContext { get; }

    public IReadOnlyList<Resource> Resources => _resources;

    /// <summary>Where every resource's output goes; tests give their own writer.</summary>
    public ConsoleLog Log { get; set; } = ConsoleLog.Standard;

    public LocalRunOptions RunOptions { get; set; } = new();

    public IResourceBuilder<T> AddResource<T>(T resource) where T : Resource
    {
        if (_resources.Exists(r => string.Equals(r.Name, resource.Name, StringComparison.OrdinalIgnoreCase)))
        {
            throw new AppHostConfigurationException($"Cannot add resource '{resource.Name}': a resource of that name already exists.");
        }
        _resources.Add(resource);
        return new ResourceBuilder<T>(this, resource);
    }

    public DistributedApplication Build() => new(this);
}
