using System.Security.Cryptography;
using System.Text;
using ReasoningServe.Api.Options;
using ReasoningServe.Api.Proxy;

namespace ReasoningServe.Api.Auth;

/// <summary>
/// Bearer API keys (--api-key, several allowed, or Api:ApiKey:N in configuration). /health, /alive and /metrics stay
/// open for orchestrators and scrapers. The presented key is stored on the request (for per-key rate limits) only as
/// a short hash, so no key reaches logs, traces or metrics.
/// </summary>
internal static class ApiKeyAuthentication
{
    private static readonly string[] OpenPaths = ["/health", "/alive", "/metrics"];
    private const string Scheme = "Bearer ";

    /// <summary>HttpContext.Items key of the caller's identity for rate limiting: "key:&lt;hash&gt;" or "ip:&lt;address&gt;".</summary>
    public const string CallerItem = "reasoningserve.caller";

    public static IApplicationBuilder UseApiKeys(this IApplicationBuilder app)
    {
        var keys = app.ApplicationServices.GetRequiredService<FrontOptions>().ApiKey
            .Where(k => !string.IsNullOrWhiteSpace(k)).Select(k => Encoding.UTF8.GetBytes(k.Trim())).ToArray();
        return app.Use(async (context, next) =>
        {
            if (IsOpen(context.Request.Path))
            {
                await next(context);
                return;
            }
            if (keys.Length == 0)
            {
                context.Items[CallerItem] = "ip:" + context.Connection.RemoteIpAddress;
                await next(context);
                return;
            }
            var presented = Presented(context.Request.Headers.Authorization.ToString());
            if (presented is null || !Matches(presented, keys))
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await OpenAIErrors.WriteAsync(context.Response, 401,
                    "Invalid or missing API key: send 'Authorization: Bearer <key>'.");
                return;
            }
            context.Items[CallerItem] = "key:" + Convert.ToHexString(SHA256.HashData(presented), 0, 8);
            await next(context);
        });
    }

    public static bool IsOpen(PathString path)
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

    private static byte[]? Presented(string authorization) =>
        authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
            ? Encoding.UTF8.GetBytes(authorization[Scheme.Length..].Trim())
            : null;

    private static bool Matches(byte[] presented, byte[][] keys)
    {
        var valid = false;
        foreach (var key in keys)
        {
            // Every key compared in constant time: timing tells neither the key nor which one matched.
            valid |= CryptographicOperations.FixedTimeEquals(presented, key);
        }
        return valid;
    }
}
