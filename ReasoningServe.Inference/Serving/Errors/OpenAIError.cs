using System.Text.Json.Serialization;
using ReasoningServe.Inference.Serving.Api;

namespace ReasoningServe.Inference.Serving.Errors;

/// <summary>The body of every error response: {"error": {"message", "type", "param", "code"}}.</summary>
internal sealed class ErrorResponse
{
    public required ErrorBody Error { get; init; }
}

internal sealed class ErrorBody
{
    public required string Message { get; init; }
    public required string Type { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? Param { get; init; }
    public required int Code { get; init; }
}

/// <summary>A request the API refuses; thrown anywhere below a handler, written by <see cref="OpenAIErrorHandling"/>.</summary>
internal sealed class OpenAIException(int status, string message, string? param = null) : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;

    public static OpenAIException BadRequest(string message, string? param = null) => new(400, message, param);

    public static OpenAIException ModelNotFound(string? model) =>
        new(404, $"The model `{model}` does not exist.", "model");

    public static string TypeOf(int status) => status switch
    {
        400 => "BadRequestError",
        401 => "AuthenticationError",
        404 => "NotFoundError",
        503 => "ServiceUnavailableError",
        _ => "InternalServerError",
    };
}

internal static class OpenAIErrorWriter
{
    public static Task WriteAsync(HttpResponse response, int status, string message, string? param = null)
    {
        response.StatusCode = status;
        response.ContentType = "application/json";
        var body = new ErrorResponse
        {
            Error = new ErrorBody { Message = message, Type = OpenAIException.TypeOf(status), Param = param, Code = status },
        };
        return response.WriteAsJsonAsync(body, OpenAIJsonContext.Wire.ErrorResponse, contentType: null);
    }
}
