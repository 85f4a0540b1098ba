using System.Text;
using System.Text.Json;

namespace ReasoningServe.Api.Proxy;

/// <summary>Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}, as a body or as an SSE event.</summary>
internal static class OpenAIErrors
{
    public static string TypeOf(int status) => status switch
    {
        400 => "BadRequestError",
        401 => "AuthenticationError",
        404 => "NotFoundError",
        429 => "RateLimitError",
        502 or 503 or 504 => "ServiceUnavailableError",
        _ => "InternalServerError",
    };

    public static async Task WriteAsync(HttpResponse response, int status, string message, string? param = null)
    {
        response.StatusCode = status;
        response.ContentType = "application/json";
        await response.Body.WriteAsync(Json(status, message, param));
    }

    /// <summary>The last event of a stream that broke after it started: the error, then [DONE] so clients stop reading.</summary>
    public static byte[] SseEvent(int status, string message)
    {
        var json = Json(status, message, null);
        var bytes = new byte[json.Length + 22];
        Encoding.ASCII.GetBytes("data: ").CopyTo(bytes, 0);
        json.CopyTo(bytes, 6);
        Encoding.ASCII.GetBytes("\n\ndata: [DONE]\n\n").CopyTo(bytes, 6 + json.Length);
        return bytes;
    }

    private static byte[] Json(int status, string message, string? param)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("error");
            json.WriteString("message", message);
            json.WriteString("type", TypeOf(status));
            if (param is null)
            {
                json.WriteNull("param");
            }
            else
            {
                json.WriteString("param", param);
            }
            json.WriteNumber("code", status);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }
}
