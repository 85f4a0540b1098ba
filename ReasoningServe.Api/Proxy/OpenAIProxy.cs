using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;
using ReasoningServe.Api.Resilience;
using ReasoningServe.Api.Routing;

namespace ReasoningServe.Api.Proxy;

/// <summary>
/// Forwards one OpenAI request to a replica of its model and relays the answer as it arrives: response headers are
/// awaited (ResponseHeadersRead), then every chunk read from the replica is written and flushed to the client at once,
/// so SSE tokens pass through unbuffered. Retries happen only before the first byte goes out; after that a failure
/// ends an event stream with an OpenAI error event. The client's disconnect cancels the upstream request.
/// </summary>
internal sealed class OpenAIProxy(
    ReplicaRegistry registry, PrefixAffinity affinity, ResiliencePipelines pipelines, UpstreamClient upstream,
    ILogger<OpenAIProxy> logger)
{
    private const int ChunkSize = 16 * 1024;

    // Hop-by-hop or recomputed by Kestrel; Authorization is the front's key, never the replica's.
    private static readonly HashSet<string> SkippedRequestHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Authorization", "Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Upgrade", "Proxy-Connection",
        "Content-Length", "Content-Type", "traceparent", "tracestate", "Expect",
    };

    private static readonly HashSet<string> SkippedResponseHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "Server", "Date",
    };

    private sealed class AttemptState
    {
        public required Replica[] Serving;
        public readonly List<Replica> Tried = [];
        public Replica.Lease? Lease;
    }

    /// <summary>Thrown inside the retry pipeline when no untried, available replica is left; not retried.</summary>
    private sealed class NoReplicaException(string message) : Exception(message);

    /// <param name="usesPrompt">Whether the route has a prompt worth prefix affinity (completions, not tokenize).</param>
    public async Task ForwardAsync(HttpContext context, string path, bool usesPrompt)
    {
        var aborted = context.RequestAborted;
        byte[] body;
        using (var buffer = new MemoryStream())
        {
            await context.Request.Body.CopyToAsync(buffer, aborted);
            body = buffer.ToArray();
        }

        string? model;
        bool stream;
        string promptText;
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                await OpenAIErrors.WriteAsync(context.Response, 400, "The request body must be a JSON object.");
                return;
            }
            model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
            promptText = usesPrompt ? PromptPrefix.TextOf(root) : "";
        }
        catch (JsonException e)
        {
            await OpenAIErrors.WriteAsync(context.Response, 400, $"Invalid JSON in request body: {e.Message}");
            return;
        }

        var (resolved, serving) = await ResolveModelAsync(context, model);
        if (resolved is null)
        {
            return;
        }
        Activity.Current?.SetTag("reasoningserve.model", resolved);

        var prefix = affinity.PrefixOf(resolved, promptText);
        var state = new AttemptState { Serving = serving! };
        try
        {
            await pipelines.Overall.ExecuteAsync(
                async (s, ct) => await ForwardWithRetriesAsync(context, path, body, resolved, stream, prefix, ct, s),
                state, aborted);
        }
        catch (TimeoutRejectedException) when (!context.Response.HasStarted)
        {
            await OpenAIErrors.WriteAsync(context.Response, 504, "The request timed out before any replica answered.");
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client left; the upstream request was cancelled with it.
        }
        finally
        {
            state.Lease?.Dispose();
        }
    }

    private async ValueTask<(string? Model, Replica[]? Serving)> ResolveModelAsync(HttpContext context, string? model)
    {
        var snapshot = await registry.GetAsync(context.RequestAborted);
        if (model is null)
        {
            if (snapshot.ByModel.Count == 0)
            {
                snapshot = await registry.RefreshIfStaleAsync(context.RequestAborted);
            }
            switch (snapshot.ByModel.Count)
            {
                case 0:
                    context.Response.Headers.RetryAfter = "5";
                    await OpenAIErrors.WriteAsync(context.Response, 503, "No inference replica is serving a model yet.");
                    return (null, null);
                case 1:
                    var only = snapshot.ByModel.First();
                    return (only.Key, only.Value);
                default:
                    await OpenAIErrors.WriteAsync(context.Response, 400,
                        $"This server serves several models; name one in `model`: {string.Join(", ", snapshot.ByModel.Keys.Order(StringComparer.Ordinal))}.",
                        "model");
                    return (null, null);
            }
        }
        if (!snapshot.ByModel.TryGetValue(model, out var serving))
        {
            snapshot = await registry.RefreshIfStaleAsync(context.RequestAborted);
            if (!snapshot.ByModel.TryGetValue(model, out serving))
            {
                await OpenAIErrors.WriteAsync(context.Response, 404, $"The model `{model}` does not exist.", "model");
                return (null, null);
            }
        }
        return (model, serving);
    }

    private async ValueTask ForwardWithRetriesAsync(HttpContext context, string path, byte[] body, string model, bool stream,
        PromptPrefix prefix, CancellationToken cancellationToken, AttemptState state)
    {
        var resilience = ResilienceContextPool.Shared.Get(model, cancellationToken);
        resilience.Properties.Set(ResiliencePipelines.AttemptTimeoutKey, pipelines.AttemptTimeout(stream));
        HttpResponseMessage response;
        try
        {
            response = await pipelines.Retry.ExecuteAsync(
                (ctx, s) => AttemptAsync(context, path, body, model, prefix, s, ctx), resilience, state);
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested && e is NoReplicaException
                                      or HttpRequestException or TimeoutRejectedException or BrokenCircuitException)
        {
            var (status, message) = e switch
            {
                NoReplicaException => (503, e.Message),
                TimeoutRejectedException => (504, $"Replica {state.Tried[^1].Id} did not answer in time."),
                _ => (502, $"Replica {state.Tried[^1].Id} failed: {e.Message}"),
            };
            logger.LogWarning("Request for {Model} failed before any response after {Attempts} attempt(s): {Reason}",
                model, state.Tried.Count, message);
            if (status == 503)
            {
                context.Response.Headers.RetryAfter = "1";
            }
            await OpenAIErrors.WriteAsync(context.Response, status, message);
            return;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(resilience);
        }

        using (response)
        {
            var replica = state.Tried[^1];
            Activity.Current?.SetTag("reasoningserve.replica", replica.Id);
            Activity.Current?.SetTag("reasoningserve.attempts", state.Tried.Count);
            if (response.IsSuccessStatusCode)
            {
                affinity.Served(prefix, replica);
            }
            await RelayAsync(context, response, replica, cancellationToken);
        }
    }

    private async ValueTask<HttpResponseMessage> AttemptAsync(HttpContext context, string path, byte[] body, string model,
        PromptPrefix prefix, AttemptState state, ResilienceContext resilience)
    {
        state.Lease?.Dispose();
        state.Lease = null;
        var candidates = ReplicaSelector.Candidates(state.Serving, state.Tried);
        if (candidates.Count == 0)
        {
            throw new NoReplicaException(state.Tried.Count == 0
                ? $"Every replica of `{model}` is failing; try again shortly."
                : $"No replica of `{model}` could serve the request (tried {string.Join(", ", state.Tried)}).");
        }
        var replica = await affinity.ChooseAsync(model, prefix, candidates, state.Tried.Count == 0);
        state.Tried.Add(replica);
        state.Lease = replica.Acquire();
        return await replica.Pipeline.ExecuteAsync(async (ctx, _) =>
        {
            using var request = upstream.NewRequest(HttpMethod.Post, replica, path);
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.TryAddWithoutValidation("Content-Type", context.Request.ContentType ?? "application/json");
            foreach (var (name, values) in context.Request.Headers)
            {
                if (!SkippedRequestHeaders.Contains(name))
                {
                    request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
                }
            }
            return await upstream.Invoker.SendAsync(request, ctx.CancellationToken);
        }, resilience, state);
    }

    private async Task RelayAsync(HttpContext context, HttpResponseMessage response, Replica replica, CancellationToken cancellationToken)
    {
        var client = context.Response;
        client.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers)
        {
            if (!SkippedResponseHeaders.Contains(name))
            {
                client.Headers[name] = values.ToArray();
            }
        }
        foreach (var (name, values) in response.Content.Headers)
        {
            client.Headers[name] = values.ToArray();
        }
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var isEventStream = response.Content.Headers.ContentType?.MediaType == "text/event-stream";

        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            await using var source = await response.Content.ReadAsStreamAsync(cancellationToken);
            await client.StartAsync(cancellationToken);
            int read;
            while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
            {
                // PipeWriter.WriteAsync flushes: each chunk is on the wire before the next read.
                var flush = await client.BodyWriter.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                if (flush.IsCanceled || flush.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested
                                  && e is IOException or HttpRequestException or OperationCanceledException)
        {
            var timedOut = e is OperationCanceledException;
            logger.LogWarning("Relay from {Replica} broke after the response started: {Reason}", replica.Id,
                timedOut ? "overall timeout" : e.Message);
            if (isEventStream)
            {
                var message = timedOut
                    ? "The request exceeded the overall timeout; the stream was cut."
                    : $"The replica serving this stream failed: {e.Message}";
                await client.BodyWriter.WriteAsync(OpenAIErrors.SseEvent(timedOut ? 504 : 502, message), CancellationToken.None);
            }
            else
            {
                // A truncated JSON body must not look complete: drop the connection.
                context.Abort();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
