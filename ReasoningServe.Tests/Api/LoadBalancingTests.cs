using System.Net;

namespace ReasoningServe.Tests.Api;

/// <summary>Least outstanding requests across replicas, and prefix affinity with its queue-length escape.</summary>
public class LoadBalancingTests
{
    // Long enough to exceed the default MinMatchChars (256) on its own.
    private static readonly string SharedSystemPrompt = string.Concat(Enumerable.Repeat("You are a careful assistant who reasons step by step. ", 8));

    [Fact]
    public async Task Least_outstanding_routing_spreads_concurrent_requests_over_three_replicas()
    {
        var replicas = new[] { await StubReplica.StartAsync(), await StubReplica.StartAsync(), await StubReplica.StartAsync() };
        try
        {
            foreach (var r in replicas)
            {
                r.Mode = StubMode.Hold;
            }
            await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", replicas));
            // Distinct short prompts: no affinity, so only the outstanding counts decide.
            var requests = Enumerable.Range(0, 30).Select(i => front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", $"question {i}"))).ToArray();
            await ApiFront.EventuallyAsync(() => replicas.Sum(r => r.Active) == 30, "all 30 requests held upstream");

            var perReplica = replicas.Select(r => r.Active).ToArray();
            // Power of two choices keeps the spread near 10/10/10; a replica with under 5 would mean load is not balanced.
            Assert.All(perReplica, n => Assert.True(n >= 5, $"uneven spread: {string.Join("/", perReplica)}"));
            foreach (var r in replicas)
            {
                r.Gate.TrySetResult();
            }
            foreach (var response in await Task.WhenAll(requests))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                response.Dispose();
            }
        }
        finally
        {
            foreach (var r in replicas)
            {
                await r.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Requests_sharing_a_long_prefix_go_to_the_replica_that_served_it()
    {
        await using var r1 = await StubReplica.StartAsync();
        await using var r2 = await StubReplica.StartAsync();
        await using var r3 = await StubReplica.StartAsync();
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", r1, r2, r3));
        for (var i = 0; i < 12; i++)
        {
            using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", $"question {i}", system: SharedSystemPrompt));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        var counts = new[] { r1.Received, r2.Received, r3.Received };
        Assert.Contains(12, counts);
        Assert.Equal(11, front.Metrics.Get("reasoningserve_api_routed_total", "model=\"stub-model\",decision=\"affinity\""));
    }

    [Fact]
    public async Task Short_shared_prefixes_do_not_pin_requests()
    {
        await using var r1 = await StubReplica.StartAsync();
        await using var r2 = await StubReplica.StartAsync();
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", r1, r2));
        for (var i = 0; i < 8; i++)
        {
            using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", $"question {i}", system: "Be brief."));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(0, front.Metrics.Get("reasoningserve_api_routed_total", "model=\"stub-model\",decision=\"affinity\""));
        Assert.Equal(8, front.Metrics.Get("reasoningserve_api_routed_total", "model=\"stub-model\",decision=\"balanced\""));
    }

    [Fact]
    public async Task Affinity_gives_up_when_the_owner_queue_is_much_longer_than_the_shortest()
    {
        await using var r1 = await StubReplica.StartAsync();
        await using var r2 = await StubReplica.StartAsync();
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", r1, r2),
            new Dictionary<string, string?> { ["Api:Affinity:MaxQueueGap"] = "2" });
        using (var first = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", "warm up", system: SharedSystemPrompt)))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }
        var (owner, other) = r1.Received == 1 ? (r1, r2) : (r2, r1);
        owner.Mode = StubMode.Hold;
        other.Mode = StubMode.Hold;

        // The owner takes requests while its queue is at most 2 longer than the other's (0): three of them.
        var held = new List<Task<HttpResponseMessage>>();
        for (var i = 0; i < 3; i++)
        {
            held.Add(front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", $"held {i}", system: SharedSystemPrompt)));
            var expected = i + 1;
            await ApiFront.EventuallyAsync(() => owner.Active == expected, $"request {i} held on the owner");
        }
        Assert.Equal(0, other.Active);

        // Now the owner is 3 ahead: the next shared-prefix request goes to the other replica.
        held.Add(front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", "one more", system: SharedSystemPrompt)));
        await ApiFront.EventuallyAsync(() => other.Active == 1, "the fourth request on the other replica");
        Assert.Equal(3, owner.Active);
        Assert.Equal(1, front.Metrics.Get("reasoningserve_api_routed_total", "model=\"stub-model\",decision=\"affinity_overloaded\""));

        owner.Gate.TrySetResult();
        other.Gate.TrySetResult();
        foreach (var response in await Task.WhenAll(held))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
    }
}
