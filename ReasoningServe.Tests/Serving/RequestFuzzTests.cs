using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace ReasoningServe.Tests.Serving;

/// <summary>
/// Bad input never hurts other requests: the real server gets seeded random requests built from extreme but
/// well-formed values (the float edges of every sampling parameter, odd prompts and messages, streaming or not), and
/// each must be answered without a 5xx while a plain request after it still succeeds. Two such values used to stop the
/// engine loop for everyone: top_p 1e-50 and temperature 1e300 (0 and infinity as floats).
/// </summary>
public class RequestFuzzTests
{
    private static readonly Dictionary<string, JsonNode?[]> Sampling = new()
    {
        ["temperature"] = [0, 1e-8, 1e-5, 0.6, 2, 1e10, 3e38, 1e300, 1e-300],
        ["top_p"] = [1e-50, 1e-10, 0.5, 1],
        ["top_k"] = [-1, 0, 1, 2, 1_000_000, int.MaxValue],
        ["min_p"] = [0, 0.5, 1, 1e-45],
        ["presence_penalty"] = [-2, 2],
        ["frequency_penalty"] = [-2, 2],
        ["repetition_penalty"] = [1e-50, 1e-30, 0.01, 1, 100, 1e30, 1e50],
        ["n"] = [1, 3],
        ["max_tokens"] = [1, 5, 12],
        ["min_tokens"] = [0, 1, 5],
        ["seed"] = [-1, 0, long.MaxValue, long.MinValue],
        ["stop"] = [new JsonArray(""), new JsonArray("\n", "<think>"), new JsonArray()],
        ["stop_token_ids"] = [new JsonArray(0), new JsonArray()],
        ["logit_bias"] = [new JsonObject { ["0"] = 100 }, new JsonObject { ["1"] = -100, ["2"] = 1e300 }],
        ["ignore_eos"] = [true, false],
        ["skip_special_tokens"] = [true, false],
        ["stream"] = [true, false],
    };

    private static readonly Dictionary<string, JsonNode?[]> CompletionOnly = new()
    {
        ["prompt"] = ["hi", "", new JsonArray(0), new JsonArray(new JsonArray(1, 2), new JsonArray(3)), new JsonArray("x", ""), "é😀é😀"],
        ["logprobs"] = [0, 1, 20],
        ["echo"] = [true, false],
    };

    private static readonly Dictionary<string, JsonNode?[]> ChatOnly = new()
    {
        ["top_logprobs"] = [0, 5, 20],
        ["logprobs"] = [true, false],
        ["chat_template_kwargs"] = [new JsonObject { ["enable_thinking"] = true }, new JsonObject { ["enable_thinking"] = false }],
        ["thinking_token_budget"] = [0, 1, 5, 1_000_000_000],
        ["include_reasoning"] = [true, false],
        ["add_generation_prompt"] = [true, false],
        ["continue_final_message"] = [true, false],
    };

    private static readonly JsonNode?[] Contents = ["hi", "", "<think>x</think>y", "</think>", new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "a" })];
    private static readonly string[] Roles = ["user", "assistant", "system"];

    [SkippableFact]
    public async Task Random_extreme_requests_never_get_a_5xx_nor_stop_the_server()
    {
        await using var server = await InferenceServer.StartAsync("--reasoning-parser", "qwen3");
        var random = new Random(2026);
        for (int i = 0; i < 100; i++)
        {
            bool chat = random.Next(3) == 0;
            JsonObject body = Pick(random, Sampling);
            foreach ((string key, JsonNode? value) in Pick(random, chat ? ChatOnly : CompletionOnly).ToList())
            {
                body[key] = value?.DeepClone();
            }
            if (chat)
            {
                var messages = new JsonArray();
                for (int m = random.Next(3); m > 0; m--)
                {
                    messages.Add(new JsonObject { ["role"] = Roles[random.Next(Roles.Length)], ["content"] = Contents[random.Next(Contents.Length)]?.DeepClone() });
                }
                messages.Add(new JsonObject { ["role"] = "user", ["content"] = "Is it?" });
                body["messages"] = messages;
            }
            else
            {
                body["prompt"] ??= "hi";
            }
            body["max_tokens"] ??= 4;
            string path = chat ? "v1/chat/completions" : "v1/completions";

            using var response = await server.Http.PostAsync(path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
            string text = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode < 500, $"{path} {body.ToJsonString()} -> {(int)response.StatusCode}: {text}");
            using var plain = await server.Http.PostAsync("v1/completions",
                new StringContent("""{"prompt": "ok", "max_tokens": 1}""", Encoding.UTF8, "application/json"));
            Assert.True(plain.StatusCode == HttpStatusCode.OK, $"after {path} {body.ToJsonString()}: {await plain.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>About half of the keys, each with one of its values.</summary>
    private static JsonObject Pick(Random random, Dictionary<string, JsonNode?[]> pool)
    {
        var body = new JsonObject();
        foreach ((string key, JsonNode?[] values) in pool)
        {
            if (random.Next(2) == 0)
            {
                body[key] = values[random.Next(values.Length)]?.DeepClone();
            }
        }
        return body;
    }
}
