using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ReasoningServe.Tests.Api;

/// <summary>How a <see cref="StubReplica"/> answers completions; switchable while it runs.</summary>
internal enum StubMode
{
    /// <summary>Answers normally: JSON, or SSE chunks when stream=true.</summary>
    Ok,

    /// <summary>503 for completions and for /health (an overloaded or broken replica).</summary>
    Unavailable,

    /// <summary>Never answers until the test releases <see cref="StubReplica.Gate"/> (or the request is cancelled).</summary>
    Hold,

    /// <summary>Sends the response headers and the first SSE chunk, then (after <see cref="StubReplica.StreamGate"/>) kills the connection.</summary>
    DieMidStream,
}

/// <summary>
/// A real Kestrel server on loopback that speaks the inference server's OpenAI HTTP surface, with failures the test
/// controls. It stands in for the upstream where the behaviour under test is the front's (routing, retries, breaker,
/// relay), which a real engine cannot be made to exhibit on demand. Streams send one chunk, then wait for
/// <see cref="StreamGate"/> before the rest, so a test can prove the first chunk reached it while the upstream was
/// still unfinished.
/// </summary>
internal sealed class StubReplica : IAsyncDisposable
{
    private WebApplication? _app;
    private int _received;
    private int _active;

    private StubReplica(string model) => Model = model;

    public string Model { get; }
    public string Url { get; private set; } = "";
    public int Port { get; private set; }
    public StubMode Mode { get; set; } = StubMode.Ok;

    /// <summary>Completion requests that reached this replica (whatever the mode).</summary>
    public int Received => Volatile.Read(ref _received);

    /// <summary>Completion requests this replica is answering right now.</summary>
    public int Active => Volatile.Read(ref _active);

    /// <summary>Released by the test to let held requests (<see cref="StubMode.Hold"/>) answer.</summary>
    public TaskCompletionSource Gate { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Released by the test to let a stream send its chunks after the first.</summary>
    public TaskCompletionSource StreamGate { get; set; } = Released();

    /// <summary>Completes when a request's own cancellation (client gone) reached this replica.</summary>
    public TaskCompletionSource UpstreamCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public List<string> Bodies { get; } = [];

    /// <summary>Chunks a stream sends after the first one, each after <see cref="ChunkDelay"/> (a decode step).</summary>
    public int StreamChunks { get; set; } = 3;

    public TimeSpan ChunkDelay { get; set; } = TimeSpan.Zero;

    public static TaskCompletionSource Released()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }

    public void ResetGate() => Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<StubReplica> StartAsync(string model = "stub-model", int port = 0)
    {
        var stub = new StubReplica(model);
        await stub.StartOnAsync(port);
        return stub;
    }

    /// <summary>Starts again on the same port after <see cref="StopAsync"/> (a replica coming back).</summary>
    public Task RestartAsync() => StartOnAsync(Port);

    private async Task StartOnAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/v1/models", () => Results.Text(
            $$"""{"object":"list","data":[{"id":"{{Model}}","object":"model","created":1,"owned_by":"stub","max_model_len":256}]}""",
            "application/json"));
        app.MapGet("/health", () => Mode == StubMode.Unavailable ? Results.StatusCode(503) : Results.Ok());
        app.MapPost("/v1/chat/completions", CompleteAsync);
        app.MapPost("/v1/completions", CompleteAsync);
        app.MapPost("/tokenize", () => Results.Text("""{"count":2,"max_model_len":256,"tokens":[1,2]}""", "application/json"));
        await app.StartAsync();
        _app = app;
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        Port = address.Port;
        Url = $"http://127.0.0.1:{Port}";
    }

    private async Task CompleteAsync(HttpContext context)
    {
        Interlocked.Increment(ref _received);
        Interlocked.Increment(ref _active);
        var aborted = context.RequestAborted;
        try
        {
            var body = await new StreamReader(context.Request.Body).ReadToEndAsync(aborted);
            lock (Bodies)
            {
                Bodies.Add(body);
            }
            var stream = body.Contains("\"stream\": true", StringComparison.Ordinal) || body.Contains("\"stream\":true", StringComparison.Ordinal);
            switch (Mode)
            {
                case StubMode.Unavailable:
                    context.Response.StatusCode = 503;
                    await context.Response.WriteAsync("""{"error":{"message":"overloaded","type":"ServiceUnavailableError","param":null,"code":503}}""", aborted);
                    return;
                case StubMode.Hold:
                    await Gate.Task.WaitAsync(aborted);
                    break;
            }
            if (!stream)
            {
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(
                    $$"""{"id":"cmpl-1","object":"chat.completion","model":"{{Model}}","choices":[{"index":0,"message":{"role":"assistant","content":"from {{Port}}"},"finish_reason":"stop"}]}""",
                    aborted);
                return;
            }
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync(Chunk("first"), aborted);
            await context.Response.Body.FlushAsync(aborted);
            await StreamGate.Task.WaitAsync(aborted);
            if (Mode == StubMode.DieMidStream)
            {
                context.Abort();
                return;
            }
            for (var i = 0; i < StreamChunks; i++)
            {
                if (ChunkDelay > TimeSpan.Zero)
                {
                    await Task.Delay(ChunkDelay, aborted);
                }
                await context.Response.WriteAsync(Chunk($"t{i}"), aborted);
                await context.Response.Body.FlushAsync(aborted);
            }
            await context.Response.WriteAsync("data: [DONE]\n\n", aborted);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            UpstreamCancelled.TrySetResult();
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    private string Chunk(string text) =>
        $$$"""data: {"id":"c","object":"chat.completion.chunk","model":"{{{Model}}}","choices":[{"index":0,"delta":{"content":"{{{text}}}"}}]}""" + "\n\n";

    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            Gate.TrySetResult();
            using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(1)))
            {
                await app.StopAsync(stop.Token);
            }
            await app.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    public override string ToString() => Url;
}
