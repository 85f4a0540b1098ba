using System.Text;
using System.Text.Json;
using ReasoningServe.Inference.Tokenization.ChatTemplates;

namespace ReasoningServe.Inference.Serving.Errors;

/// <summary>
/// Turns whatever a request throws into an OpenAI error object with the right status, so one bad request is answered
/// and nothing else notices. A response already streaming cannot change status; its stream ends instead.
/// </summary>
internal static class OpenAIErrorHandling
{
    public static IApplicationBuilder UseOpenAIErrors(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (Exception e) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            var (status, message, param) = Classify(e);
            if (status >= 500)
            {
                context.RequestServices.GetRequiredService<ILogger<OpenAIException>>()
                    .LogError(e, "Request {Path} failed", context.Request.Path);
            }
            await OpenAIErrorWriter.WriteAsync(context.Response, status, message, param);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; its engine request was cancelled with it.
        }
    });

    public static (int Status, string Message, string? Param) Classify(Exception e) => e switch
    {
        OpenAIException api => (api.Status, api.Message, api.Param),
        JsonException json => (400, $"Invalid JSON in request body: {json.Message}", null),
        // Invalid UTF-8 in a JSON string surfaces as one of these from the reader.
        DecoderFallbackException or InvalidOperationException { InnerException: DecoderFallbackException } =>
            (400, "Request body is not valid UTF-8.", null),
        ChatTemplateException template => (400, $"Chat template error: {template.Message}", null),
        BadHttpRequestException bad => (bad.StatusCode, bad.Message, null),
        _ => (500, "Internal server error: " + e.Message, null),
    };
}
