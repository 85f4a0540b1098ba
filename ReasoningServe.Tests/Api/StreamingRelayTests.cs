using System.Net;
using System.Text;

namespace ReasoningServe.Tests.Api;

/// <summary>SSE relayed chunk by chunk as it arrives; the client's disconnect reaches the replica.</summary>
public class StreamingRelayTests
{
    private static async Task<string> ReadEventAsync(Stream stream)
    {
        var text = new StringBuilder();
        var buffer = new byte[1];
        while (!text.ToString().EndsWith("\n\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer);
            Assert.True(read > 0, "stream ended before a whole event: " + text);
            text.Append((char)buffer[0]);
        }
        return text.ToString();
    }

    [Fact]
    public async Task The_first_chunk_reaches_the_client_while_the_replica_has_not_finished()
    {
        await using var replica = await StubReplica.StartAsync();
        replica.StreamGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", replica));

        using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("stub-model", "q", stream: true));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        await using var stream = await response.Content.ReadAsStreamAsync();

        // The replica holds the rest of its stream until this first event has arrived here: a buffering front would hang.
        var first = await ReadEventAsync(stream).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("\"first\"", first);
        Assert.Equal(1, replica.Active);
        replica.StreamGate.SetResult();

        var rest = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            rest.Add(await ReadEventAsync(stream));
        }
        Assert.Contains("\"t0\"", rest[0]);
        Assert.Contains("\"t2\"", rest[2]);
        Assert.Equal("data: [DONE]\n\n", rest[3]);
    }

    [Fact]
    public async Task A_client_disconnect_cancels_the_upstream_request()
    {
        await using var replica = await StubReplica.StartAsync();
        replica.StreamGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", replica));

        var client = new HttpClient { BaseAddress = front.Http.BaseAddress };
        var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = ApiFront.Json(ApiFront.Chat("stub-model", "q", stream: true)),
        }, HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        await ReadEventAsync(stream);
        Assert.False(replica.UpstreamCancelled.Task.IsCompleted);

        // The client goes away mid-stream: its connection closes.
        response.Dispose();
        client.Dispose();
        await replica.UpstreamCancelled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await ApiFront.EventuallyAsync(() => front.Registry.Current.Replicas.Single().Outstanding == 0, "the front released the request");
    }
}
