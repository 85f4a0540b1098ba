using System.Net;
using System.Text.Json;
using ReasoningServe.Tests.Serving;

namespace ReasoningServe.Tests.Api;

/// <summary>The front over real inference servers (CPU backend, the tiny reasoning fixture model) on loopback.</summary>
public class RealInferenceTests
{
    private static async Task<InferenceServer[]> StartReplicasAsync(int count)
    {
        var replicas = new InferenceServer[count];
        for (var i = 0; i < count; i++)
        {
            replicas[i] = await InferenceServer.StartAsync("--reasoning-parser", "qwen3");
        }
        return replicas;
    }

    private static Dictionary<string, string[]> Group(InferenceServer[] replicas) =>
        new() { ["inference"] = replicas.Select(r => r.BaseAddress.GetLeftPart(UriPartial.Authority)).ToArray() };

    private const string Question = """{"model": "tiny", "messages": [{"role": "user", "content": "Is it?"}], "temperature": 0, "max_tokens": 24""";

    [Fact]
    public async Task Models_chat_streams_and_tokenize_pass_through_to_real_replicas()
    {
        var replicas = await StartReplicasAsync(2);
        try
        {
            await using var front = await ApiFront.StartAsync(Group(replicas));
            using var models = JsonDocument.Parse(await front.Http.GetStringAsync("v1/models"));
            Assert.Equal(["tiny"], models.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToArray());

            using var chat = await front.PostAsync("v1/chat/completions", Question + "}");
            var body = await chat.Content.ReadAsStringAsync();
            Assert.True(chat.StatusCode == HttpStatusCode.OK, body);
            using var direct = await replicas[0].Http.PostAsync("v1/chat/completions", ApiFront.Json(Question + "}"));
            using var viaFront = JsonDocument.Parse(body);
            using var fromReplica = JsonDocument.Parse(await direct.Content.ReadAsStringAsync());
            // Greedy decoding: the front returns exactly what a replica says.
            Assert.Equal(fromReplica.RootElement.GetProperty("choices")[0].GetProperty("message").GetRawText(),
                viaFront.RootElement.GetProperty("choices")[0].GetProperty("message").GetRawText());

            using var stream = await front.PostAsync("v1/chat/completions", Question + ", \"stream\": true}");
            Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
            var events = (await stream.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
            Assert.True(events.Length > 3, string.Join(" | ", events));
            Assert.Equal("data: [DONE]", events[^1]);

            using var tokenize = await front.PostAsync("tokenize", """{"model": "tiny", "prompt": "Hello world"}""");
            using var tokens = JsonDocument.Parse(await tokenize.Content.ReadAsStringAsync());
            Assert.True(tokens.RootElement.GetProperty("count").GetInt32() > 0);
        }
        finally
        {
            foreach (var replica in replicas)
            {
                await replica.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Load_is_balanced_over_three_real_replicas_and_killing_one_mid_run_loses_no_request()
    {
        var replicas = await StartReplicasAsync(3);
        try
        {
            await using var front = await ApiFront.StartAsync(Group(replicas));
            await front.Registry.RefreshAsync(CancellationToken.None);
            var served = front.Registry.Current.Replicas;
            Assert.Equal(3, served.Count);

            async Task<HttpStatusCode> AskAsync(int i)
            {
                using var response = await front.PostAsync("v1/chat/completions",
                    $$"""{"model": "tiny", "messages": [{"role": "user", "content": "Question {{i}}?"}], "max_tokens": 8}""");
                await response.Content.ReadAsStringAsync();
                return response.StatusCode;
            }

            var first = await Task.WhenAll(Enumerable.Range(0, 12).Select(AskAsync));
            Assert.All(first, s => Assert.Equal(HttpStatusCode.OK, s));
            var routed = front.Metrics.Get("reasoningserve_api_routed_total", "model=\"tiny\",decision=\"balanced\"");
            Assert.Equal(12, routed);

            var running = Enumerable.Range(100, 24).Select(AskAsync).ToArray();
            var killed = replicas[1];
            replicas = [replicas[0], replicas[2]];
            await killed.DisposeAsync(); // killed mid-run
            var during = await Task.WhenAll(running);
            var after = await Task.WhenAll(Enumerable.Range(200, 12).Select(AskAsync));
            Assert.All(during.Concat(after), s => Assert.Equal(HttpStatusCode.OK, s));
        }
        finally
        {
            foreach (var replica in replicas)
            {
                await replica.DisposeAsync();
            }
        }
    }
}
