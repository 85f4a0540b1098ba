using ReasoningServe.Inference.Serving;
using ReasoningServe.Inference.Serving.Errors;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddServerOptions(args);
builder.AddInferenceEngine();

var app = builder.Build();
app.UseOpenAIErrors();
app.UseApiKeys();
app.MapOpenAIEndpoints();
app.MapDefaultEndpoints();
app.Run();
