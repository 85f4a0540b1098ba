using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using ReasoningServe.Inference.Serving.Errors;

namespace ReasoningServe.Inference.Serving;

/// <summary>Reads a JSON request body with the source-generated contract; anything malformed is a 400.</summary>
internal static class RequestBody
{
    public static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> typeInfo) where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync(context.Request.Body, typeInfo, context.RequestAborted)
                ?? throw OpenAIException.BadRequest("The request body must be a JSON object.");
        }
        catch (JsonException e)
        {
            throw OpenAIException.BadRequest($"Invalid JSON in request body: {e.Message}");
        }
        catch (Exception e) when (e is DecoderFallbackException or ArgumentException
                                  || e is InvalidOperationException { InnerException: DecoderFallbackException })
        {
            throw OpenAIException.BadRequest("The request body is not valid UTF-8 JSON.");
        }
    }
}
