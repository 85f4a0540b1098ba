using Microsoft.Extensions.Hosting;
using ReasoningServe.Inference.Serving.Errors;

namespace ReasoningServe.Inference.Serving;

/// <summary>The server as one composition, used by Program.cs and by tests that start the real thing.</summary>
internal static class InferenceApplication
{
    public static WebApplication Build(string[] args)
    {
        // The content root is the app's own folder, not the working directory, so its appsettings.json (which keeps
        // ASP.NET Core's per-request logs at Warning) applies wherever the server is started from.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.AddServiceDefaults();
        builder.AddServerOptions(args);
        builder.AddInferenceEngine();

        var app = builder.Build();
        app.LogStartup();
        app.UseOpenAIErrors();
        app.UseApiKeys();
        app.MapOpenAIEndpoints();
        app.MapDefaultEndpoints();
        return app;
    }
}
