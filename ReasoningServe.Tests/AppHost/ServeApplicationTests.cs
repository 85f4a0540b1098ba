using Microsoft.Extensions.Configuration;
using ReasoningServe.AppHost.LLM;

namespace ReasoningServe.Tests.AppHost;

public class ServeApplicationTests
{
    [Fact]
    public void Without_arguments_the_default_model_is_served_on_port_8000()
    {
        ServeApplication app = ServeApplication.FromConfiguration(new ConfigurationBuilder().Build());
        ServeDeployment deployment = Assert.Single(app.Deployments);
        Assert.Equal("reasoningserve-default", deployment.Config.ModelId);
        Assert.Equal(LLMConfig.DefaultModelSource, deployment.Config.ModelSource);
        Assert.Equal(8000, app.ApiPort);
    }

    [Theory]
    [InlineData("--model-source", "/models/QwQ-32B/", "--model-id", "qwq", "qwq")]
    [InlineData("--model-source", "/models/QwQ-32B/", null, null, "QwQ-32B")]
    [InlineData("--ModelSource", "Qwen/Qwen3-8B", "--ModelId", "qwen3", "qwen3")]
    public void Model_source_from_the_command_line_replaces_the_default_model(
        string sourceFlag, string source, string? idFlag, string? id, string expectedId)
    {
        string[] args = idFlag is null ? [sourceFlag, source] : [sourceFlag, source, idFlag, id!];
        ServeApplication app = ServeApplication.FromConfiguration(new ConfigurationBuilder().AddCommandLine(args).Build());
        ServeDeployment deployment = Assert.Single(app.Deployments);
        Assert.Equal(source, deployment.Config.ModelSource);
        Assert.Equal(expectedId, deployment.Config.ModelId);
        Assert.Equal("deepseek_r1", deployment.Config.EngineKwargs.ReasoningParser);
    }
}
