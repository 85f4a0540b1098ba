using System.Text.Json;
using ReasoningServe.Api.Routing;
using ReasoningServe.Api.Telemetry;

namespace ReasoningServe.Api.Proxy;

/// <summary>The OpenAI routes of the front, the same as an inference server's, plus its own /metrics.</summary>
internal static class FrontEndpoints
{
    public static WebApplication MapOpenAIFront(this WebApplication app)
    {
        // Connect to Redis at start-up rather than on the first request.
        app.Services.GetRequiredService<PrefixIndex>();

        app.MapGet("/v1/models", async (HttpContext context, ReplicaRegistry registry) =>
        {
            var snapshot = await registry.GetAsync(context.RequestAborted);
            await WriteJsonAsync(context, json =>
            {
                json.WriteStartObject();
                json.WriteString("object", "list");
                json.WriteStartArray("data");
                foreach (var card in snapshot.Cards)
                {
                    card.WriteTo(json);
                }
                json.WriteEndArray();
                json.WriteEndObject();
            });
        });
        app.MapGet("/v1/models/{**id}", async (string id, HttpContext context, ReplicaRegistry registry) =>
        {
            var snapshot = await registry.GetAsync(context.RequestAborted);
            if (!snapshot.ByModel.TryGetValue(id, out var serving))
            {
                await OpenAIErrors.WriteAsync(context.Response, 404, $"The model `{id}` does not exist.", "model");
                return;
            }
            var card = serving[0].Models[id];
            await WriteJsonAsync(context, card.WriteTo);
        });
        app.MapPost("/v1/chat/completions", (HttpContext context, OpenAIProxy proxy) => proxy.ForwardAsync(context, "v1/chat/completions", usesPrompt: true));
        app.MapPost("/v1/completions", (HttpContext context, OpenAIProxy proxy) => proxy.ForwardAsync(context, "v1/completions", usesPrompt: true));
        app.MapPost("/tokenize", (HttpContext context, OpenAIProxy proxy) => proxy.ForwardAsync(context, "tokenize", usesPrompt: false));
        app.MapPost("/detokenize", (HttpContext context, OpenAIProxy proxy) => proxy.ForwardAsync(context, "detokenize", usesPrompt: false));
        app.MapGet("/metrics", (FrontMetrics metrics) => Results.Text(metrics.Render(), "text/plain; version=0.0.4"));
        app.MapFallback(context => OpenAIErrors.WriteAsync(context.Response, 404, $"No route {context.Request.Method} {context.Request.Path}."));
        return app;
    }

    private static async Task WriteJsonAsync(HttpContext context, Action<Utf8JsonWriter> write)
    {
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        write(json);
        await json.FlushAsync(context.RequestAborted);
    }
}
