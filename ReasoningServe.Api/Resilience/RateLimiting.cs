using System.Globalization;
using Polly;
using Polly.RateLimiting;
using ReasoningServe.Api.Auth;
using ReasoningServe.Api.Proxy;

namespace ReasoningServe.Api.Resilience;

/// <summary>Admits each request through the per-key rate-limit pipeline; refusals are 429 in OpenAI's shape with Retry-After.</summary>
internal static class RateLimiting
{
    public static IApplicationBuilder UseRateLimits(this IApplicationBuilder app)
    {
        var pipeline = app.ApplicationServices.GetRequiredService<ResiliencePipelines>().RateLimit;
        if (pipeline == ResiliencePipeline.Empty)
        {
            return app;
        }
        return app.Use(async (context, next) =>
        {
            if (ApiKeyAuthentication.IsOpen(context.Request.Path))
            {
                await next(context);
                return;
            }
            var resilience = ResilienceContextPool.Shared.Get(context.RequestAborted);
            resilience.Properties.Set(ResiliencePipelines.RateLimitPartitionKey,
                context.Items[ApiKeyAuthentication.CallerItem] as string ?? "anonymous");
            try
            {
                // Only admission runs inside the pipeline: the request itself is not held by the limiter's lease.
                await pipeline.ExecuteAsync(static _ => ValueTask.CompletedTask, resilience);
            }
            catch (RateLimiterRejectedException rejected)
            {
                var seconds = Math.Max(1, (int)Math.Ceiling((rejected.RetryAfter ?? TimeSpan.FromSeconds(1)).TotalSeconds));
                context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                await OpenAIErrors.WriteAsync(context.Response, 429, "Rate limit reached for this API key; retry after "
                    + seconds.ToString(CultureInfo.InvariantCulture) + " s.");
                return;
            }
            finally
            {
                ResilienceContextPool.Shared.Return(resilience);
            }
            await next(context);
        });
    }
}
