using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using ReasoningServe.Tests.Serving.Fixtures;

namespace ReasoningServe.Tests.Serving;

/// <summary>
/// The server over real HTTP on loopback with the fixture model whose greedy output is
/// &lt;think&gt;Let me think&lt;/think&gt;\n\nThe answer is yes: the official OpenAI SDK where it models the fields, raw
/// HTTP for reasoning fields, SSE framing and errors.
/// </summary>
public class EndToEndTests
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private const string Hello = """[{"role": "user", "content": "Is it?"}]""";

    private static async Task<JsonElement> PostJsonAsync(InferenceServer server, string path, string body, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await server.Http.PostAsync(path, Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [SkippableTheory]
    [InlineData("qwen3")]
    [InlineData("deepseek_r1")]
    public async Task Chat_splits_reasoning_from_content_with_thinking_on(string parser)
    {
        await using var server = await InferenceServer.StartAsync("--reasoning-parser", parser);
        var body = await PostJsonAsync(server, "v1/chat/completions",
            $$"""{"model": "tiny", "messages": {{Hello}}, "temperature": 0, "max_tokens": 40}""");
        var message = body.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal(ReasoningModelBuilder.Reasoning, message.GetProperty("reasoning_content").GetString());
        Assert.Equal(ReasoningModelBuilder.Reasoning, message.GetProperty("reasoning").GetString());
        Assert.Equal(ReasoningModelBuilder.Content, message.GetProperty("content").GetString());
        Assert.Equal("stop", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        var usage = body.GetProperty("usage");
        Assert.Equal(3, usage.GetProperty("completion_tokens_details").GetProperty("reasoning_tokens").GetInt32());
    }

    [SkippableTheory]
    [InlineData("qwen3")]
    [InlineData("deepseek_r1")]
    public async Task Chat_with_thinking_off_is_all_content(string parser)
    {
        await using var server = await InferenceServer.StartAsync("--reasoning-parser", parser);
        var body = await PostJsonAsync(server, "v1/chat/completions",
            $$$"""{"messages": {{{Hello}}}, "temperature": 0, "chat_template_kwargs": {"enable_thinking": false}}""");
        var message = body.GetProperty("choices")[0].GetProperty("message");
        Assert.False(message.TryGetProperty("reasoning_content", out _));
        Assert.Equal(ReasoningModelBuilder.ContentWithoutThinking, message.GetProperty("content").GetString());
        Assert.Equal(0, body.GetProperty("usage").GetProperty("completion_tokens_details").GetProperty("reasoning_tokens").GetInt32());
    }

    [SkippableTheory]
    [InlineData("qwen3", true)]
    [InlineData("deepseek_r1", true)]
    [InlineData("qwen3", false)]
    public async Task Streaming_sends_role_then_reasoning_then_content_then_usage_and_done(string parser, bool thinking)
    {
        await using var server = await InferenceServer.StartAsync("--reasoning-parser", parser);
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = Json($$$"""
                {"messages": {{{Hello}}}, "temperature": 0, "stream": true, "stream_options": {"include_usage": true},
                 "chat_template_kwargs": {"enable_thinking": {{{(thinking ? "true" : "false")}}}}}
                """),
        };
        using var response = await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.Empty(chunks[^1].GetProperty("choices").EnumerateArray());
        Assert.True(chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32() > 0);
        Assert.Equal("stop", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        string reasoning = "", content = "";
        var sawContentBeforeReasoningEnded = false;
        foreach (var chunk in chunks.Skip(1).SkipLast(1))
        {
            var delta = chunk.GetProperty("choices")[0].GetProperty("delta");
            if (delta.TryGetProperty("reasoning_content", out var r))
            {
                Assert.False(sawContentBeforeReasoningEnded);
                reasoning += r.GetString();
                Assert.Equal(r.GetString(), delta.GetProperty("reasoning").GetString());
            }
            if (delta.TryGetProperty("content", out var c))
            {
                sawContentBeforeReasoningEnded = true;
                content += c.GetString();
            }
        }
        Assert.Equal(thinking ? ReasoningModelBuilder.Reasoning : "", reasoning);
        Assert.Equal(thinking ? ReasoningModelBuilder.Content : ReasoningModelBuilder.ContentWithoutThinking, content);
    }

    [SkippableFact]
    public async Task OpenAI_sdk_chat_streams_and_completes()
    {
        await using var server = await InferenceServer.StartAsync("--reasoning-parser", "qwen3");
        var client = new ChatClient("tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "v1") });
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 40 };
        ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage("Is it?")], options);
        Assert.Equal(ReasoningModelBuilder.Content, completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        var streamed = new StringBuilder();
        await foreach (var update in client.CompleteChatStreamingAsync([new UserChatMessage("Is it?")], options))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }
        }
        Assert.Equal(ReasoningModelBuilder.Content, streamed.ToString());
    }

    [SkippableFact]
    public async Task Completions_take_every_prompt_shape_and_number_choices_per_prompt()
    {
        await using var server = await InferenceServer.StartAsync();
        // 198 is "\n": the chain continues with <think>Let me think</think>...
        var body = await PostJsonAsync(server, "v1/completions",
            """{"prompt": [[198], [198]], "n": 2, "temperature": 0, "max_tokens": 3, "logprobs": 2, "skip_special_tokens": false}""");
        var choices = body.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2, 3], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.All(choices, c => Assert.Equal("<think>Let me", c.GetProperty("text").GetString()));
        Assert.All(choices, c => Assert.Equal(3, c.GetProperty("logprobs").GetProperty("tokens").GetArrayLength()));
        Assert.Equal(8, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() * 4);
        var echo = await PostJsonAsync(server, "v1/completions", """{"prompt": "\n", "echo": true, "temperature": 0, "max_tokens": 1, "skip_special_tokens": false}""");
        Assert.Equal("\n<think>", echo.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [SkippableFact]
    public async Task Stop_strings_cut_the_output()
    {
        await using var server = await InferenceServer.StartAsync("--reasoning-parser", "qwen3");
        var body = await PostJsonAsync(server, "v1/chat/completions",
            $$$"""{"messages": {{{Hello}}}, "temperature": 0, "stop": [" is"], "chat_template_kwargs": {"enable_thinking": false}}""");
        Assert.Equal("The answer", body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [SkippableTheory]
    [InlineData("{\"messages\": [", 400)]
    [InlineData("""{"messages": [{"role": "user", "content": "x"}], "n": 0}""", 400)]
    [InlineData("""{"messages": [{"role": "user", "content": "x"}], "top_p": 1.5}""", 400)]
    [InlineData("""{"messages": [{"role": "user", "content": "x"}], "repetition_penalty": 1e-50}""", 400)]
    [InlineData("""{"messages": [{"role": "user", "content": "x"}], "temperature": 1e300}""", 400)]
    [InlineData("""{"messages": [{"role": "user", "content": "x"}], "max_tokens": -1}""", 400)]
    [InlineData("""{"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}""", 400)]
    [InlineData("""{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}""", 400)]
    [InlineData("""{"messages": []}""", 400)]
    [InlineData("""{"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]}""", 404)]
    public async Task Bad_requests_get_openai_error_objects(string body, int status)
    {
        await using var server = await InferenceServer.StartAsync();
        var error = (await PostJsonAsync(server, "v1/chat/completions", body, (HttpStatusCode)status)).GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal(status, error.GetProperty("code").GetInt32());
        Assert.True(error.TryGetProperty("type", out _) && error.TryGetProperty("param", out _));
        // The server still answers the next request.
        await PostJsonAsync(server, "v1/chat/completions", $$"""{"messages": {{Hello}}, "max_tokens": 2}""");
    }

    [SkippableFact]
    public async Task A_top_p_too_small_for_a_float_samples_the_most_likely_token_and_the_server_carries_on()
    {
        await using var server = await InferenceServer.StartAsync();
        // (0, 1] allows 1e-50, which is 0 as a float: the nucleus must still hold the most likely token (it used to be
        // empty, and the exception stopped the engine loop for every request after it).
        string Text(JsonElement body) => body.GetProperty("choices")[0].GetProperty("text").GetString()!;
        var greedy = await PostJsonAsync(server, "v1/completions", """{"prompt": [198], "temperature": 0, "max_tokens": 3, "skip_special_tokens": false}""");
        var tiny = await PostJsonAsync(server, "v1/completions",
            """{"prompt": [198], "temperature": 1, "top_p": 1e-50, "seed": 3, "max_tokens": 3, "skip_special_tokens": false}""");
        Assert.Equal(Text(greedy), Text(tiny));
        await PostJsonAsync(server, "v1/chat/completions", $$"""{"messages": {{Hello}}, "max_tokens": 2}""");
    }

    [SkippableFact]
    public async Task Invalid_utf8_and_out_of_vocabulary_tokens_are_400()
    {
        await using var server = await InferenceServer.StartAsync();
        var bytes = Encoding.UTF8.GetBytes("""{"prompt": "ab", "max_tokens": 1}""");
        bytes[12] = 0xFF;
        using var response = await server.Http.PostAsync("v1/completions", new ByteArrayContent(bytes));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await PostJsonAsync(server, "v1/completions", """{"prompt": [999999999], "max_tokens": 1}""", HttpStatusCode.BadRequest);
        Assert.Contains("vocabulary", error.GetProperty("error").GetProperty("message").GetString());
        var tooLong = await PostJsonAsync(server, "v1/completions", """{"prompt": [198], "max_tokens": 256}""", HttpStatusCode.BadRequest);
        Assert.Contains("maximum context length is 256", tooLong.GetProperty("error").GetProperty("message").GetString());
    }

    [SkippableFact]
    public async Task Api_key_guards_the_api_but_not_health_metrics_or_version()
    {
        await using var server = await InferenceServer.StartAsync("--api-key", "k1", "k2");
        using (var denied = await server.Http.GetAsync("v1/models"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
            Assert.Contains("\"error\"", await denied.Content.ReadAsStringAsync());
        }
        foreach (var open in new[] { "health", "metrics", "version" })
        {
            using var response = await server.Http.GetAsync(open);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using var request = new HttpRequestMessage(HttpMethod.Get, "v1/models") { Headers = { { "Authorization", "Bearer k2" } } };
        using var allowed = await server.Http.SendAsync(request);
        var models = JsonDocument.Parse(await allowed.Content.ReadAsStringAsync()).RootElement.GetProperty("data")[0];
        Assert.Equal("tiny", models.GetProperty("id").GetString());
        Assert.Equal(256, models.GetProperty("max_model_len").GetInt32());
    }

    [SkippableFact]
    public async Task A_client_that_disconnects_frees_its_blocks()
    {
        await using var server = await InferenceServer.StartAsync();
        using (var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = Json("""{"prompt": [198], "max_tokens": 250, "ignore_eos": true, "stream": true}"""),
        })
        using (var response = await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: ", await reader.ReadLineAsync());
        }
        // Poll the metrics until the engine has dropped the request; no time bound is asserted, the test timeout is the guard.
        string metrics;
        do
        {
            await Task.Delay(50);
            metrics = await server.Http.GetStringAsync("metrics");
        }
        while (!metrics.Contains("vllm:num_requests_running{model_name=\"tiny\"} 0\n") ||
               !metrics.Contains("vllm:kv_cache_usage_perc{model_name=\"tiny\"} 0\n"));
        Assert.Contains("vllm:time_to_first_token_seconds_count", metrics);
    }

    [SkippableFact]
    public async Task A_template_that_opens_the_think_section_makes_deepseek_r1_read_reasoning_without_a_start_tag()
    {
        var template = Path.Combine(Path.GetTempPath(), "reasoningserve-tests", "opens-think.jinja");
        Directory.CreateDirectory(Path.GetDirectoryName(template)!);
        await File.WriteAllTextAsync(template,
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n<think>");
        await using var server = await InferenceServer.StartAsync("--reasoning-parser", "deepseek_r1", "--chat-template", template);
        var body = await PostJsonAsync(server, "v1/chat/completions", $$"""{"messages": {{Hello}}, "temperature": 0}""");
        var message = body.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal(ReasoningModelBuilder.Reasoning, message.GetProperty("reasoning_content").GetString());
        Assert.Equal(ReasoningModelBuilder.Content, message.GetProperty("content").GetString());
    }
}
