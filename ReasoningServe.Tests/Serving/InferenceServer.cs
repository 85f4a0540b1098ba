using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using ReasoningServe.Inference.Serving;
using ReasoningServe.Tests.Serving.Fixtures;

namespace ReasoningServe.Tests.Serving;

/// <summary>
/// The real server (the same composition as Program.cs) on a free loopback port, serving the reasoning fixture model.
/// </summary>
public sealed class InferenceServer : IAsyncDisposable
{
    private static readonly Lazy<string> ModelFolder = new(() => ReasoningModelBuilder.Build(
        Path.Combine(Path.GetTempPath(), "reasoningserve-tests", "tiny-qwen3-reasoning"), TestData.TokenizerFolder("qwen3")));

    private WebApplication? _app;

    public HttpClient Http { get; } = new();
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    /// <summary>The running server's services (what it registered at start-up).</summary>
    public IServiceProvider Services => _app?.Services ?? throw new InvalidOperationException("The server has not started.");

    public static string FixtureModel => ModelFolder.Value;

    public static async Task<InferenceServer> StartAsync(params string[] extraArgs)
    {
        var server = new InferenceServer();
        try
        {
            string[] args = ["--model", ModelFolder.Value, "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", "0",
                "--max-model-len", "256", "--shutdown-timeout", "2", .. extraArgs];
            var app = InferenceApplication.Build(args);
            await app.StartAsync();
            server._app = app;
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            server.BaseAddress = new Uri(address.TrimEnd('/') + "/");
            server.Http.BaseAddress = server.BaseAddress;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
