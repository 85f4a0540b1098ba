using System.Net;
using System.Text.Json;

namespace ReasoningServe.Tests.Api;

/// <summary>Bearer API keys (several allowed) and per-key rate limits, both answered in OpenAI's error shape.</summary>
public class AuthAndRateLimitTests
{
    [Fact]
    public async Task Requests_without_a_valid_key_get_401_and_any_configured_key_works()
    {
        await using var a = await StubReplica.StartAsync();
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", a), null, "--api-key", "key-one", "key-two");

        foreach (var key in new[] { null, "wrong" })
        {
            using var refused = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", "q"), key);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            Assert.Equal("AuthenticationError", error.RootElement.GetProperty("error").GetProperty("type").GetString());
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await front.Http.GetAsync("v1/models")).StatusCode);
        Assert.Equal(0, a.Received);

        foreach (var key in new[] { "key-one", "key-two" })
        {
            using var accepted = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", "q"), key);
            Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        }
        // The front's key is its own: it is not passed on to the replica.
        Assert.All(a.Bodies, b => Assert.DoesNotContain("key-", b));
        Assert.Equal(HttpStatusCode.OK, (await front.Http.GetAsync("health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await front.Http.GetAsync("alive")).StatusCode);
        var metrics = await front.Http.GetStringAsync("metrics");
        Assert.DoesNotContain("key-one", metrics);
    }

    [Fact]
    public async Task Over_the_rate_limit_a_key_gets_429_with_Retry_After_while_other_keys_pass()
    {
        await using var a = await StubReplica.StartAsync();
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", a), new Dictionary<string, string?>
        {
            ["Api:RateLimit:PermitsPerSecond"] = "0.2",
            ["Api:RateLimit:Burst"] = "2",
        }, "--api-key", "busy", "quiet");

        for (var i = 0; i < 2; i++)
        {
            using var ok = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", "q"), "busy");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        using var limited = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", "q"), "busy");
        Assert.Equal((HttpStatusCode)429, limited.StatusCode);
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {limited.Headers.RetryAfter}");
        using var error = JsonDocument.Parse(await limited.Content.ReadAsStringAsync());
        Assert.Equal("RateLimitError", error.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(2, a.Received);

        using var other = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", "q"), "quiet");
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.Equal(1, front.Metrics.Get("reasoningserve_api_rate_limited_total"));
    }
}
