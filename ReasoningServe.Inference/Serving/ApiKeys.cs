using System.Security.Cryptography;
using System.Text;
using ReasoningServe.Inference.Serving.Errors;

namespace ReasoningServe.Inference.Serving;

/// <summary>
/// Bearer-key check for the API (--api-key / VLLM_API_KEY, several keys allowed). /health, /metrics and /version stay
/// open so orchestrators and scrapers need no secret.
/// </summary>
internal static class ApiKeys
{
    private static readonly string[] OpenPaths = ["/health", "/metrics", "/version", "/ping"];

    public static IApplicationBuilder UseApiKeys(this IApplicationBuilder app)
    {
        var keys = app.ApplicationServices.GetRequiredService<ServerOptions>().ApiKey
            .Select(k => Encoding.UTF8.GetBytes(k)).ToArray();
        if (keys.Length == 0)
        {
            return app;
        }
        return app.Use(async (context, next) =>
        {
            if (IsOpen(context.Request.Path) || HasValidKey(context.Request.Headers.Authorization.ToString(), keys))
            {
                await next(context);
                return;
            }
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await OpenAIErrorWriter.WriteAsync(context.Response, StatusCodes.Status401Unauthorized,
                "Invalid or missing API key: send 'Authorization: Bearer <key>'.");
        });
    }

    private static bool IsOpen(PathString path)
    {
        foreach (var open in OpenPaths)
        {
            if (path.Equals(open, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    private static bool HasValidKey(string authorization, byte[][] keys)
    {
        const string Scheme = "Bearer ";
        if (!authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var presented = Encoding.UTF8.GetBytes(authorization[Scheme.Length..].Trim());
        var valid = false;
        foreach (var key in keys)
        {
            // Compare against every key in constant time so timing reveals neither key nor which one matched.
            valid |= CryptographicOperations.FixedTimeEquals(presented, key);
        }
        return valid;
    }
}
