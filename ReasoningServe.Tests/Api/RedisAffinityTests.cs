using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using ReasoningServe.Api.Routing;

namespace ReasoningServe.Tests.Api;

/// <summary>The prefix index in a real redis-server: shared by front instances, and never a reason for a request to fail.</summary>
public class RedisAffinityTests
{
    private static string Prefix(int topic) =>
        string.Concat(Enumerable.Repeat($"Topic {topic}: you are an assistant for a long shared document. ", 8));

    private static Dictionary<string, string?> WithRedis(RedisServer redis) =>
        new() { ["ConnectionStrings:cache"] = redis.ConnectionString };

    [SkippableFact]
    public async Task A_second_front_instance_routes_a_shared_prefix_where_the_first_sent_it()
    {
        using var redis = await RedisServer.StartAsync();
        await using var r1 = await StubReplica.StartAsync();
        await using var r2 = await StubReplica.StartAsync();
        await using var r3 = await StubReplica.StartAsync();
        var replicas = new[] { r1, r2, r3 };
        var groups = ApiFront.Group("inference", replicas);
        await using var first = await ApiFront.StartAsync(groups, WithRedis(redis));
        await using var second = await ApiFront.StartAsync(groups, WithRedis(redis));
        await ApiFront.EventuallyAsync(() => first.PrefixIndex.RedisConnected && second.PrefixIndex.RedisConnected, "both fronts connected to Redis");

        // Five topics: the second front agreeing on all by chance would be a 1-in-243 event.
        var owners = new int[5];
        for (var topic = 0; topic < owners.Length; topic++)
        {
            var before = replicas.Select(r => r.Received).ToArray();
            using var response = await first.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", "first", system: Prefix(topic)));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            owners[topic] = Array.FindIndex(replicas, r => r.Received > before[Array.IndexOf(replicas, r)]);
        }
        // Writes to Redis are fire-and-forget; wait until the last one is readable from the other instance.
        using var last = JsonDocument.Parse(ApiFront.Chat("stub-model", "x", system: Prefix(owners.Length - 1)));
        var lastHashes = second.Services.GetRequiredService<PrefixAffinity>().PrefixOf("stub-model", PromptPrefix.TextOf(last.RootElement)).BlockHashes;
        await ApiFront.EventuallyAsync(async () => (await second.PrefixIndex.LookupAsync(lastHashes)).Replica is not null,
            "the index entries are visible in Redis");

        for (var topic = 0; topic < owners.Length; topic++)
        {
            var before = replicas.Select(r => r.Received).ToArray();
            using var response = await second.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", "second", system: Prefix(topic)));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var servedBy = Array.FindIndex(replicas, r => r.Received > before[Array.IndexOf(replicas, r)]);
            Assert.Equal(owners[topic], servedBy);
        }
        Assert.Equal(owners.Length, second.Metrics.Get("reasoningserve_api_routed_total", "model=\"stub-model\",decision=\"affinity\""));
    }

    [SkippableFact]
    public async Task Redis_stopped_and_restarted_mid_run_loses_no_request()
    {
        using var redis = await RedisServer.StartAsync();
        await using var r1 = await StubReplica.StartAsync();
        await using var r2 = await StubReplica.StartAsync();
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", r1, r2), WithRedis(redis));
        await ApiFront.EventuallyAsync(() => front.PrefixIndex.RedisConnected, "front connected to Redis");

        async Task SendAsync(int count, string phase)
        {
            for (var i = 0; i < count; i++)
            {
                using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", $"{phase} {i}", system: Prefix(i % 3)));
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{phase} request {i}: {(int)response.StatusCode}");
            }
        }

        await SendAsync(10, "before");
        redis.Stop();
        await SendAsync(20, "while down");
        await ApiFront.EventuallyAsync(() => !front.PrefixIndex.RedisConnected, "the front noticed Redis is gone");
        await SendAsync(10, "still down");
        Assert.True(front.Metrics.Get("reasoningserve_api_prefix_index_fallbacks_total") > 0);

        await redis.RestartAsync();
        await ApiFront.EventuallyAsync(() => front.PrefixIndex.RedisConnected, "the front reconnected by itself", seconds: 60);
        await SendAsync(10, "after");
        Assert.Equal(50, r1.Received + r2.Received);
    }
}
