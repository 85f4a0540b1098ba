using ReasoningServe.AppHost.Hosting;
using ReasoningServe.AppHost.LLM;

var builder = DistributedApplication.CreateBuilder(args);

// `--config serve.yaml` serves a Ray Serve LLM config as-is; without it, the project's default model.
var serve = ServeApplication.FromConfiguration(builder.Configuration);

var cache = builder.AddRedis("cache");

var llms = serve.Deployments.Select(deployment => builder.AddLLM(deployment.Config, deployment.Name)
    .WithReference(cache)
    .WaitFor(cache)).ToList();

builder.AddOpenAIApp("api", llms, serve.ApiPort)
    .WithReference(cache)
    .WaitFor(cache);

builder.Build().Run();
