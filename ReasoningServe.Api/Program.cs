using ReasoningServe.Api.Auth;
using ReasoningServe.Api.Options;
using ReasoningServe.Api.Proxy;
using ReasoningServe.Api.Resilience;
using ReasoningServe.Api.Routing;
using ReasoningServe.Api.Telemetry;

var builder = WebApplication.CreateBuilder(args);
// TODO(issue 5): builder.AddServiceDefaults(); once ServiceDefaults has it (add meter/source "ReasoningServe.Api").
builder.AddFrontOptions(args);
builder.AddReplicaRouting();

var app = builder.Build();
app.UseApiKeys();
app.UseRateLimits();
app.MapFrontHealth(); // TODO(issue 5): app.MapDefaultEndpoints(); instead, once ServiceDefaults has it.
app.MapOpenAIFront();
app.Run();
