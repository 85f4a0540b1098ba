using ReasoningServe.Api.Auth;
using ReasoningServe.Api.Options;
using ReasoningServe.Api.Proxy;
using ReasoningServe.Api.Resilience;
using ReasoningServe.Api.Routing;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddFrontOptions(args);
builder.AddReplicaRouting();

var app = builder.Build();
app.UseApiKeys();
app.UseRateLimits();
app.MapOpenAIFront();
app.MapDefaultEndpoints();
app.Run();
