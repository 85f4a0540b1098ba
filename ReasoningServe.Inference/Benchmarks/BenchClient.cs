using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>What one streamed request measured. Times are seconds from sending the request.</summary>
internal sealed class RequestMetrics
{
    public bool Success { get; set; }
    public string? Error { get; set; }
    public int PromptLen { get; set; }
    public int OutputTokens { get; set; }
    public int ReasoningTokens { get; set; }
    public double Ttft { get; set; }
    public double Latency { get; set; }
    /// <summary>Gaps between consecutive chunks that carried tokens, after the first.</summary>
    public List<double> Itl { get; } = [];
    public string GeneratedText { get; set; } = "";
}

/// <summary>
/// Sends one streaming request to an OpenAI-compatible endpoint and times it chunk by chunk: TTFT at the first chunk with
/// text or reasoning, ITL between later ones, E2E at [DONE]. Token counts come from the usage chunk when the server sends
/// one (stream_options.include_usage), else one token per chunk. Failures are recorded, never thrown.
/// </summary>
internal sealed class BenchClient(HttpClient http, BenchOptions options)
{
    public async Task<RequestMetrics> SendAsync(BenchPrompt prompt, CancellationToken cancellationToken)
    {
        var metrics = new RequestMetrics { PromptLen = prompt.TokenIds.Length };
        var clock = Stopwatch.StartNew();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, options.BaseUrl.TrimEnd('/') + options.Endpoint)
            {
                Content = new StringContent(Body(prompt).ToJsonString(), Encoding.UTF8, "application/json"),
            };
            if (!string.IsNullOrEmpty(options.ApiKey))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiKey);
            }
            using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                string body = await response.Content.ReadAsStringAsync(cancellationToken);
                metrics.Error = $"HTTP {(int)response.StatusCode}: {body[..Math.Min(body.Length, 300)]}";
                return metrics;
            }
            await ReadStreamAsync(response, metrics, clock, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException or TaskCanceledException)
        {
            metrics.Error = $"{e.GetType().Name}: {e.Message}";
        }
        metrics.Latency = clock.Elapsed.TotalSeconds;
        return metrics;
    }

    private JsonObject Body(BenchPrompt prompt)
    {
        var body = new JsonObject
        {
            ["model"] = options.Model,
            ["max_tokens"] = prompt.OutputLen,
            ["temperature"] = 0,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
            ["ignore_eos"] = options.IgnoreEos,
        };
        if (options.Endpoint == "/v1/chat/completions")
        {
            body["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt.Text });
            if (options.DatasetName == "reasoning")
            {
                body["chat_template_kwargs"] = new JsonObject { ["enable_thinking"] = true };
            }
        }
        else
        {
            // Token ids keep the prompt length exact whatever the server's tokenizer makes of the decoded text.
            body["prompt"] = new JsonArray([.. prompt.TokenIds.Select(id => JsonValue.Create(id))]);
        }
        return body;
    }

    private static async Task ReadStreamAsync(HttpResponseMessage response, RequestMetrics metrics, Stopwatch clock,
        CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        var text = new StringBuilder();
        double last = 0;
        int chunksWithTokens = 0;
        int reasoningChunks = 0;
        int? usageTokens = null;
        int? usageReasoning = null;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (!line.StartsWith("data:", StringComparison.Ordinal))
            {
                continue;
            }
            string data = line[5..].Trim();
            if (data == "[DONE]")
            {
                metrics.Success = true;
                break;
            }
            using JsonDocument chunk = JsonDocument.Parse(data);
            JsonElement root = chunk.RootElement;
            if (root.TryGetProperty("error", out JsonElement error))
            {
                metrics.Error = error.ToString();
                return;
            }
            if (root.TryGetProperty("usage", out JsonElement usage) && usage.ValueKind == JsonValueKind.Object)
            {
                usageTokens = usage.GetProperty("completion_tokens").GetInt32();
                if (usage.TryGetProperty("completion_tokens_details", out JsonElement details) && details.ValueKind == JsonValueKind.Object
                    && details.TryGetProperty("reasoning_tokens", out JsonElement r) && r.ValueKind == JsonValueKind.Number)
                {
                    usageReasoning = r.GetInt32();
                }
            }
            if (!root.TryGetProperty("choices", out JsonElement choices) || choices.GetArrayLength() == 0)
            {
                continue;
            }
            (string? piece, bool reasoning) = Piece(choices[0]);
            if (string.IsNullOrEmpty(piece))
            {
                continue;
            }
            double now = clock.Elapsed.TotalSeconds;
            if (chunksWithTokens == 0)
            {
                metrics.Ttft = now;
            }
            else
            {
                metrics.Itl.Add(now - last);
            }
            last = now;
            chunksWithTokens++;
            reasoningChunks += reasoning ? 1 : 0;
            if (!reasoning)
            {
                text.Append(piece);
            }
        }
        metrics.OutputTokens = usageTokens ?? chunksWithTokens;
        metrics.ReasoningTokens = usageReasoning ?? reasoningChunks;
        metrics.GeneratedText = text.ToString();
        if (!metrics.Success && metrics.Error is null)
        {
            metrics.Error = "the stream ended without [DONE]";
        }
    }

    /// <summary>The text a chunk carries: completions' text, or chat's content / reasoning delta.</summary>
    private static (string? Text, bool Reasoning) Piece(JsonElement choice)
    {
        if (choice.TryGetProperty("text", out JsonElement t))
        {
            return (t.GetString(), false);
        }
        if (!choice.TryGetProperty("delta", out JsonElement delta))
        {
            return (null, false);
        }
        foreach (string field in new[] { "reasoning_content", "reasoning" })
        {
            if (delta.TryGetProperty(field, out JsonElement r) && r.ValueKind == JsonValueKind.String && r.GetString() is { Length: > 0 } s)
            {
                return (s, true);
            }
        }
        return delta.TryGetProperty("content", out JsonElement c) && c.ValueKind == JsonValueKind.String ? (c.GetString(), false) : (null, false);
    }
}
