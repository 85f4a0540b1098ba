using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ReasoningServe.Api.Auth;
using ReasoningServe.Api.Options;
using ReasoningServe.Api.Proxy;
using ReasoningServe.Api.Resilience;
using ReasoningServe.Api.Routing;
using ReasoningServe.Api.Telemetry;

namespace ReasoningServe.Tests.Api;

/// <summary>
/// The real front (the same composition as ReasoningServe.Api/Program.cs) on a free loopback port, configured the way
/// Aspire would: <c>services:&lt;group&gt;:http:&lt;i&gt;</c> per replica, <c>ConnectionStrings:cache</c> for Redis.
/// </summary>
internal sealed class ApiFront : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ApiFront(WebApplication app, Uri address)
    {
        _app = app;
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public HttpClient Http { get; }
    public IServiceProvider Services => _app.Services;
    public ReplicaRegistry Registry => _app.Services.GetRequiredService<ReplicaRegistry>();
    public FrontMetrics Metrics => _app.Services.GetRequiredService<FrontMetrics>();
    public PrefixIndex PrefixIndex => _app.Services.GetRequiredService<PrefixIndex>();
    public IConfiguration Configuration => _app.Configuration;

    /// <param name="groups">Replica groups: service name → replica URLs.</param>
    /// <param name="settings">Extra configuration, e.g. "Api:Resilience:MaxRetries".</param>
    public static async Task<ApiFront> StartAsync(IDictionary<string, string[]> groups, IDictionary<string, string?>? settings = null,
        params string[] args)
    {
        var config = new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            // Generous for tests, which must not hit the default 100/s per caller by accident.
            ["Api:RateLimit:PermitsPerSecond"] = "0",
            // The whole suite shares two cores with CPU model tests: a stub's /v1/models answer may take longer than the
            // 2 s default, and a missed probe reads as "model does not exist" (seen once in a full run).
            ["Api:Routing:ProbeTimeout"] = "00:00:10",
        };
        foreach (var (group, urls) in groups)
        {
            for (var i = 0; i < urls.Length; i++)
            {
                config[$"services:{group}:http:{i}"] = urls[i];
            }
        }
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }
        string[] allArgs = ["--port", "0", "--host", "127.0.0.1", .. args];
        var builder = WebApplication.CreateBuilder(allArgs);
        builder.Configuration.AddInMemoryCollection(config);
        builder.AddServiceDefaults();
        builder.AddFrontOptions(allArgs);
        builder.AddReplicaRouting();
        var app = builder.Build();
        app.UseApiKeys();
        app.UseRateLimits();
        app.MapOpenAIFront();
        app.MapDefaultEndpoints();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ApiFront(app, new Uri(address.TrimEnd('/') + "/"));
    }

    public static Dictionary<string, string[]> Group(string name, params StubReplica[] replicas) =>
        new() { [name] = replicas.Select(r => r.Url).ToArray() };

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static string Chat(string? model, string user, bool stream = false, string? system = null)
    {
        var modelField = model is null ? "" : $"\"model\": \"{model}\", ";
        var systemMessage = system is null ? "" : $"{{\"role\": \"system\", \"content\": \"{system}\"}}, ";
        return $$"""{{{modelField}}"stream": {{(stream ? "true" : "false")}}, "messages": [{{systemMessage}}{"role": "user", "content": "{{user}}"}]}""";
    }

    public Task<HttpResponseMessage> PostAsync(string path, string json, string? apiKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(json) };
        if (apiKey is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
        return Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    /// <summary>Polls until <paramref name="condition"/> holds; fails after a generous bound (a hang, not a timing claim).</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Still waiting for: {what}");
            await Task.Delay(50);
        }
    }

    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Still waiting for: {what}");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            await _app.StopAsync(stop.Token);
        }
        await _app.DisposeAsync();
    }
}
