using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace ReasoningServe.Tests.Benchmarks;

/// <summary>Endpoints that fail in each way a benchmark meets: the tool counts the requests as failed, with the reason,
/// and still writes its result.</summary>
public class BenchFailureTests
{
    [Fact]
    public async Task A_closed_port_is_counted_as_failed_requests_not_a_crash()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        JsonElement r = await BenchRun.SaveAsync($"http://127.0.0.1:{port}", "--model", "m", "--num-prompts", "4", "--random-input-len", "4");
        Assert.Equal(0, r.GetProperty("completed").GetInt32());
        Assert.Equal(4, r.GetProperty("failed").GetInt32());
        Assert.Equal(0, r.GetProperty("total_output_tokens").GetInt64());
        Assert.All(r.GetProperty("errors").EnumerateArray(), e => Assert.Contains("HttpRequestException", e.GetString()));
    }

    [Fact]
    public async Task An_endpoint_answering_500_is_counted_with_its_error()
    {
        await using WebApplication app = await StartAsync(context =>
        {
            context.Response.StatusCode = 500;
            return context.Response.WriteAsJsonAsync(new { error = new { message = "boom" } });
        });

        JsonElement r = await BenchRun.SaveAsync(app.Urls.First(), "--model", "m", "--num-prompts", "3", "--random-input-len", "4");
        Assert.Equal(3, r.GetProperty("failed").GetInt32());
        Assert.All(r.GetProperty("errors").EnumerateArray(), e => Assert.StartsWith("HTTP 500: {\"error\":{\"message\":\"boom\"}}", e.GetString()));
    }

    [Theory]
    [InlineData("data: {\"choices\": [{\"text\": \"a\"}]}\n\ndata: {not json\n\n", "not valid JSON")]
    [InlineData("data: {\"choices\": [{\"text\": \"a\"}]}\n\n", "without [DONE]")]
    [InlineData("data: {\"error\": {\"message\": \"engine died\"}}\n\n", "engine died")]
    [InlineData("data: [DONE]\n\n", "without any generated text")]
    public async Task A_broken_stream_is_counted_as_failed_with_the_reason(string stream, string reason)
    {
        await using WebApplication app = await StartAsync(async context =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync(stream);
        });

        JsonElement r = await BenchRun.SaveAsync(app.Urls.First(), "--model", "m", "--num-prompts", "2", "--random-input-len", "4");
        Assert.Equal(2, r.GetProperty("failed").GetInt32());
        Assert.All(r.GetProperty("errors").EnumerateArray(), e => Assert.Contains(reason, e.GetString()));
    }

    private static async Task<WebApplication> StartAsync(RequestDelegate handler)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        WebApplication app = builder.Build();
        app.MapPost("/v1/completions", handler);
        await app.StartAsync();
        return app;
    }
}
