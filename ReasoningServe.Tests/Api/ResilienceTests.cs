using System.Net;
using System.Text.Json;

namespace ReasoningServe.Tests.Api;

/// <summary>Retries on another replica before the first byte only, attempt timeouts, and the per-replica breaker.</summary>
public class ResilienceTests
{
    [Fact]
    public async Task A_replica_refusing_connections_is_retried_on_another_and_no_request_fails()
    {
        await using var dead = await StubReplica.StartAsync();
        await using var live = await StubReplica.StartAsync();
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", dead, live));
        await front.Registry.RefreshAsync(CancellationToken.None);
        await dead.StopAsync(); // its port now refuses connections; the registry still lists it

        // Random choice decides who is tried first: send until the dead replica has been tried (and retried past).
        var sent = 0;
        while (front.Metrics.Get("reasoningserve_api_retries_total", "model=\"stub-model\",reason=\"connection\"") == 0)
        {
            Assert.True(sent++ < 30, "the dead replica was never tried");
            using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", $"q{sent}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(sent, live.Received);
    }

    [Fact]
    public async Task A_503_is_retried_on_another_replica()
    {
        await using var busy = await StubReplica.StartAsync();
        await using var live = await StubReplica.StartAsync();
        busy.Mode = StubMode.Unavailable;
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", busy, live));
        var sent = 0;
        while (busy.Received == 0)
        {
            Assert.True(sent++ < 30, "the 503 replica was never tried");
            using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", $"q{sent}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(sent, live.Received);
        Assert.Equal(busy.Received, (int)front.Metrics.Get("reasoningserve_api_retries_total", "model=\"stub-model\",reason=\"503\""));
    }

    [Fact]
    public async Task When_every_replica_fails_the_client_gets_an_OpenAI_error()
    {
        await using var a = await StubReplica.StartAsync();
        await using var b = await StubReplica.StartAsync();
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", a, b));
        await front.Registry.RefreshAsync(CancellationToken.None);
        await a.StopAsync();
        await b.StopAsync();
        using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", "q"));
        Assert.True(response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable, response.StatusCode.ToString());
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("ServiceUnavailableError", error.RootElement.GetProperty("error").GetProperty("type").GetString());
    }

    [Fact]
    public async Task A_hanging_replica_times_out_and_the_stream_is_served_by_another()
    {
        await using var hung = await StubReplica.StartAsync();
        await using var live = await StubReplica.StartAsync();
        hung.Mode = StubMode.Hold;
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", hung, live),
            new Dictionary<string, string?> { ["Api:Resilience:AttemptTimeout"] = "00:00:02" });
        // Random choice decides who is tried first: send until the hanging replica has been tried at least once.
        var sent = 0;
        while (hung.Received == 0)
        {
            Assert.True(sent++ < 30, "the hanging replica was never tried");
            using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", $"q{sent}", stream: true));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, text);
            Assert.EndsWith("data: [DONE]\n\n", text);
        }
        Assert.Equal(sent, live.Received);
        Assert.True(front.Metrics.Get("reasoningserve_api_retries_total", "model=\"stub-model\",reason=\"timeout\"") >= 1);
    }

    [Fact]
    public async Task A_stream_that_breaks_after_its_first_chunk_is_not_retried_and_ends_with_an_error_event()
    {
        await using var a = await StubReplica.StartAsync();
        await using var b = await StubReplica.StartAsync();
        foreach (var replica in new[] { a, b })
        {
            replica.Mode = StubMode.DieMidStream;
            replica.StreamGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", a, b));

        using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", "q", stream: true));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var stream = await response.Content.ReadAsStreamAsync();
        var reader = new StreamReader(stream);
        Assert.StartsWith("data: ", await reader.ReadLineAsync()); // the first chunk is here: now the replica dies
        a.StreamGate.SetResult();
        b.StreamGate.SetResult();
        var events = (await reader.ReadToEndAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(1, a.Received + b.Received); // no second attempt once bytes reached the client
        using var error = JsonDocument.Parse(events[^2]["data: ".Length..]);
        Assert.Equal(502, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal("data: [DONE]", events[^1]);
    }

    [Fact]
    public async Task Breaker_opens_on_a_failing_replica_skips_it_and_closes_when_its_health_recovers()
    {
        await using var sick = await StubReplica.StartAsync();
        await using var live = await StubReplica.StartAsync();
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", sick, live), new Dictionary<string, string?>
        {
            ["Api:Resilience:Breaker:MinimumThroughput"] = "2",
            ["Api:Resilience:Breaker:ProbeInterval"] = "00:00:00.100",
        });
        await front.Registry.RefreshAsync(CancellationToken.None);
        var sickReplica = front.Registry.Current.Replicas.Single(r => r.BaseAddress.Port == sick.Port);
        sick.Mode = StubMode.Unavailable;

        var sent = 0;
        while (sickReplica.IsAvailable)
        {
            Assert.True(sent++ < 200, "breaker never opened");
            using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", $"q{sent}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        var failedBeforeOpen = sick.Received;
        for (var i = 0; i < 10; i++)
        {
            using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", $"skip{i}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(failedBeforeOpen, sick.Received); // skipped while open
        Assert.Equal(1, front.Metrics.Get("reasoningserve_api_breaker_transitions_total", $"replica=\"{sickReplica.Id}\",state=\"open\""));

        sick.Mode = StubMode.Ok; // /health answers 200 again
        await ApiFront.EventuallyAsync(() => sickReplica.IsAvailable, "the /health probe closes the breaker");
        for (var i = 0; i < 20 && sick.Received == failedBeforeOpen; i++)
        {
            using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", $"back{i}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.True(sick.Received > failedBeforeOpen, "the recovered replica gets traffic again");
    }
}
