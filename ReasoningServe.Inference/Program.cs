using ReasoningServe.Inference.Benchmarks;
using ReasoningServe.Inference.Serving;
using ReasoningServe.Inference.Serving.Errors;

if (args is ["bench", .. var benchArgs])
{
    return await BenchCommand.RunAsync(benchArgs, Console.Out, Console.Error);
}

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
return 0;
