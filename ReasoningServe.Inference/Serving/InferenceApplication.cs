using Microsoft.Extensions.Hosting;
using ReasoningServe.Inference.Serving.Errors;

namespace ReasoningServe.Inference.Serving;

/// <summary>The server as one composition, used by Program.cs and by tests that start the real thing.</summary>
internal static class InferenceApplication
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.AddServerOptions(args);
        builder.AddInferenceEngine();

        var app = builder.Build();
        app.UseOpenAIErrors();
        app.UseApiKeys();
        app.MapOpenAIEndpoints();
        app.MapDefaultEndpoints();
        return app;
    }
}
