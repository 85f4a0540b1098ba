using System.Buffers;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Text.Json;
using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>
/// Sends one streaming request (stream_options.include_usage) to an OpenAI-compatible endpoint and times it chunk by
/// chunk: TTFT at the first chunk with text or reasoning, ITL between later ones, E2E at [DONE]. Token counts come from
/// the usage chunk (the tokenizer counts the text when a server sends none). Every failure, from a refused connection to
/// a malformed chunk, is recorded on the request, never thrown.
/// </summary>
internal sealed class BenchClient(HttpClient http, BenchOptions options, Tokenizer tokenizer)
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private readonly Uri _url = new(options.BaseUrl.TrimEnd('/') + options.Endpoint);

    /// <summary>The request body, serialized before the run so building it is not timed. Completions get token ids, so
    /// the prompt length is exact whatever the server's tokenizer would make of the text.</summary>
    public byte[] Body(BenchPrompt prompt)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + 8 * prompt.TokenIds.Length + 2 * prompt.Text.Length);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("model", options.RequestModel);
            if (options.IsChat)
            {
                json.WriteStartArray("messages");
                json.WriteStartObject();
                json.WriteString("role", "user");
                json.WriteString("content", prompt.Text);
                json.WriteEndObject();
                json.WriteEndArray();
                if (options.DatasetName == "reasoning")
                {
                    json.WriteStartObject("chat_template_kwargs");
                    json.WriteBoolean("enable_thinking", true);
                    json.WriteEndObject();
                }
            }
            else
            {
                json.WriteStartArray("prompt");
                foreach (int id in prompt.TokenIds)
                {
                    json.WriteNumberValue(id);
                }
                json.WriteEndArray();
            }
            json.WriteNumber("max_tokens", prompt.OutputLen);
            json.WriteNumber("temperature", options.Temperature);
            if (options.TopP is double topP)
            {
                json.WriteNumber("top_p", topP);
            }
            if (options.TopK is int topK)
            {
                json.WriteNumber("top_k", topK);
            }
            if (options.MinP is double minP)
            {
                json.WriteNumber("min_p", minP);
            }
            json.WriteBoolean("ignore_eos", options.IgnoreEos);
            json.WriteBoolean("stream", true);
            json.WriteStartObject("stream_options");
            json.WriteBoolean("include_usage", true);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public async Task<RequestMetrics> SendAsync(BenchPrompt prompt, byte[] body, CancellationToken cancellationToken)
    {
        var metrics = new RequestMetrics { PromptLen = prompt.TokenIds.Length };
        var stream = new StreamChunkReader();
        long start = Stopwatch.GetTimestamp();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = Json;
            if (!string.IsNullOrEmpty(options.ApiKey))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiKey);
            }
            using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                string text = await response.Content.ReadAsStringAsync(cancellationToken);
                metrics.Error = $"HTTP {(int)response.StatusCode}: {text[..Math.Min(text.Length, 300)]}";
                metrics.Latency = Stopwatch.GetElapsedTime(start).TotalSeconds;
                return metrics;
            }
            await using Stream events = await response.Content.ReadAsStreamAsync(cancellationToken);
            await ReadAsync(events, stream, metrics, start, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            metrics.Error ??= $"{e.GetType().Name}: {e.Message}";
            metrics.Success = false;
        }
        if (metrics.Latency == 0)
        {
            metrics.Latency = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        metrics.GeneratedText = stream.Content.ToString();
        metrics.ReasoningText = stream.Reasoning.ToString();
        if (metrics.Success)
        {
            Count(metrics, stream);
        }
        return metrics;
    }

    private static async Task ReadAsync(Stream body, StreamChunkReader stream, RequestMetrics metrics, long start, CancellationToken cancellationToken)
    {
        long last = 0;
        await foreach (SseItem<ChunkKind> item in SseParser.Create(body, stream.Read).EnumerateAsync(cancellationToken))
        {
            switch (item.Data)
            {
                case ChunkKind.Tokens:
                    long now = Stopwatch.GetTimestamp();
                    if (last == 0)
                    {
                        metrics.Ttft = Stopwatch.GetElapsedTime(start, now).TotalSeconds;
                    }
                    else
                    {
                        metrics.Itl.Add(Stopwatch.GetElapsedTime(last, now).TotalSeconds);
                    }
                    last = now;
                    break;
                case ChunkKind.Error:
                    metrics.Error = stream.Error;
                    return;
                case ChunkKind.Done:
                    metrics.Latency = Stopwatch.GetElapsedTime(start).TotalSeconds;
                    metrics.Success = last != 0 || stream.CompletionTokens is > 0;
                    if (!metrics.Success)
                    {
                        metrics.Error = "the stream ended without any generated text";
                    }
                    return;
            }
        }
        metrics.Error = "the stream ended without [DONE]";
    }

    /// <summary>Token counts: the server's usage when it sent one, else the tokenizer's count of what was streamed.</summary>
    private void Count(RequestMetrics metrics, StreamChunkReader stream)
    {
        metrics.PromptLen = stream.PromptTokens ?? metrics.PromptLen;
        int reasoning = stream.ReasoningTokens ?? (stream.Reasoning.Length == 0 ? 0 : tokenizer.Encode(metrics.ReasoningText).Length);
        metrics.OutputTokens = stream.CompletionTokens
            ?? reasoning + (stream.Content.Length == 0 ? 0 : tokenizer.Encode(metrics.GeneratedText).Length);
        metrics.ReasoningTokens = Math.Min(reasoning, metrics.OutputTokens);
    }
}
