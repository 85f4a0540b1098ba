using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ReasoningServe.Tests.ServiceDefaults;

/// <summary>ServiceDefaults on a real Kestrel server on loopback.</summary>
public sealed class ServiceDefaultsTests
{
    private static WebApplication CreateApp(Action<WebApplication>? mapOwnEndpoints = null, params string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddServiceDefaults();
        var app = builder.Build();
        mapOwnEndpoints?.Invoke(app);
        app.MapDefaultEndpoints();
        return app;
    }

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(WebApplication app, string path)
    {
        var address = app.Urls.First();
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(new Uri(address), path));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Health_and_alive_are_served_outside_Development_too()
    {
        await using var app = CreateApp(args: ["--environment", "Production"]);
        await app.StartAsync();

        Assert.Equal((HttpStatusCode.OK, "Healthy"), await GetAsync(app, "/health"));
        Assert.Equal((HttpStatusCode.OK, "Healthy"), await GetAsync(app, "/alive"));
        await app.StopAsync();
    }

    [Fact]
    public async Task An_application_health_endpoint_is_kept_and_alive_is_still_added()
    {
        await using var app = CreateApp(a => a.MapGet("/health", () => Results.Text("loading", statusCode: 503)));
        await app.StartAsync();

        Assert.Equal((HttpStatusCode.ServiceUnavailable, "loading"), await GetAsync(app, "/health"));
        Assert.Equal((HttpStatusCode.OK, "Healthy"), await GetAsync(app, "/alive"));
        await app.StopAsync();
    }

    [Fact]
    public void OTLP_exporter_is_registered_only_when_an_endpoint_is_configured()
    {
        static bool HasOtlpExporter(params string[] args)
        {
            var builder = WebApplication.CreateBuilder(args);
            builder.AddServiceDefaults();
            return builder.Services.Any(d =>
                (d.ImplementationType ?? d.ServiceType).Assembly.GetName().Name == "OpenTelemetry.Exporter.OpenTelemetryProtocol");
        }

        Assert.False(HasOtlpExporter());
        Assert.True(HasOtlpExporter("--OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"));
    }

    [Fact]
    public async Task Service_names_resolve_from_Aspire_services_configuration()
    {
        var builder = WebApplication.CreateBuilder();
        builder.AddServiceDefaults();
        builder.Configuration["services:inference:http:0"] = "http://127.0.0.1:5999";
        await using var services = builder.Services.BuildServiceProvider();

        var resolver = services.GetRequiredService<Microsoft.Extensions.ServiceDiscovery.ServiceEndpointResolver>();
        var endpoints = await resolver.GetEndpointsAsync("http://inference", CancellationToken.None);

        Assert.Contains("127.0.0.1:5999", Assert.Single(endpoints.Endpoints).EndPoint.ToString());
    }
}
