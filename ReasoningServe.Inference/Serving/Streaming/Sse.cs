using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Features;

namespace ReasoningServe.Inference.Serving.Streaming;

/// <summary>
/// Server-sent events as OpenAI streams them: `data: {json}\n\n` per chunk, serialized straight into the response's
/// pipe by the source-generated serializer and flushed at once, then `data: [DONE]\n\n`.
/// </summary>
internal sealed class Sse
{
    private readonly HttpResponse _response;
    private readonly Utf8JsonWriter _json;

    private Sse(HttpResponse response)
    {
        _response = response;
        _json = new Utf8JsonWriter(response.BodyWriter, new JsonWriterOptions { SkipValidation = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    public static Sse Start(HttpResponse response)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        response.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        return new Sse(response);
    }

    public async ValueTask WriteAsync<T>(T value, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
    {
        var pipe = _response.BodyWriter;
        pipe.Write("data: "u8);
        _json.Reset(pipe);
        JsonSerializer.Serialize(_json, value, typeInfo);
        _json.Flush();
        pipe.Write("\n\n"u8);
        await pipe.FlushAsync(cancellationToken);
    }

    public async ValueTask DoneAsync(CancellationToken cancellationToken)
    {
        _response.BodyWriter.Write("data: [DONE]\n\n"u8);
        await _response.BodyWriter.FlushAsync(cancellationToken);
    }
}
