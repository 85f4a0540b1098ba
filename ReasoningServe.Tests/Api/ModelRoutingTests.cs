using System.Net;
using System.Text.Json;

namespace ReasoningServe.Tests.Api;

/// <summary>Which model a request is for, and the OpenAI errors when that is unclear or unknown.</summary>
public class ModelRoutingTests
{
    private static async Task<JsonElement> ErrorOf(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode}: {text}");
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal((int)expected, error.GetProperty("code").GetInt32());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("type").GetString()));
        return error.Clone();
    }

    [Fact]
    public async Task Models_lists_every_model_once_whatever_the_replica_count()
    {
        await using var a1 = await StubReplica.StartAsync("alpha");
        await using var a2 = await StubReplica.StartAsync("alpha");
        await using var a3 = await StubReplica.StartAsync("alpha");
        await using var b = await StubReplica.StartAsync("beta");
        await using var front = await ApiFront.StartAsync(new Dictionary<string, string[]>
        {
            ["inference"] = [a1.Url, a2.Url, a3.Url],
            ["second"] = [b.Url],
        });

        using var list = JsonDocument.Parse(await front.Http.GetStringAsync("v1/models"));
        var ids = list.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).Order().ToArray();
        Assert.Equal(["alpha", "beta"], ids);
        Assert.Equal("list", list.RootElement.GetProperty("object").GetString());

        using var card = JsonDocument.Parse(await front.Http.GetStringAsync("v1/models/beta"));
        Assert.Equal("beta", card.RootElement.GetProperty("id").GetString());
        Assert.Equal(256, card.RootElement.GetProperty("max_model_len").GetInt32());
        await ErrorOf(await front.Http.GetAsync("v1/models/gamma"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Requests_go_only_to_replicas_of_the_named_model()
    {
        await using var a = await StubReplica.StartAsync("alpha");
        await using var b = await StubReplica.StartAsync("beta");
        await using var front = await ApiFront.StartAsync(new Dictionary<string, string[]> { ["one"] = [a.Url], ["two"] = [b.Url] });
        for (var i = 0; i < 4; i++)
        {
            using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("beta", $"q{i}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(0, a.Received);
        Assert.Equal(4, b.Received);
    }

    [Fact]
    public async Task Missing_model_with_one_model_served_uses_it()
    {
        await using var a = await StubReplica.StartAsync("alpha");
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", a));
        using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat(null, "hi"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, a.Received);
    }

    [Fact]
    public async Task Missing_model_with_several_models_is_400_listing_them()
    {
        await using var a = await StubReplica.StartAsync("alpha");
        await using var b = await StubReplica.StartAsync("beta");
        await using var front = await ApiFront.StartAsync(new Dictionary<string, string[]> { ["one"] = [a.Url], ["two"] = [b.Url] });
        var error = await ErrorOf(await front.PostAsync("v1/chat/completions", ApiFront.Chat(null, "hi")), HttpStatusCode.BadRequest);
        Assert.Contains("alpha", error.GetProperty("message").GetString());
        Assert.Contains("beta", error.GetProperty("message").GetString());
        Assert.Equal("model", error.GetProperty("param").GetString());
        Assert.Equal(0, a.Received + b.Received);
    }

    [Fact]
    public async Task Unknown_model_is_404_in_OpenAI_shape()
    {
        await using var a = await StubReplica.StartAsync("alpha");
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", a));
        var error = await ErrorOf(await front.PostAsync("v1/completions", """{"model": "nope", "prompt": "x"}"""), HttpStatusCode.NotFound);
        Assert.Equal("NotFoundError", error.GetProperty("type").GetString());
        Assert.Contains("nope", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Invalid_json_is_400()
    {
        await using var a = await StubReplica.StartAsync("alpha");
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", a));
        await ErrorOf(await front.PostAsync("v1/chat/completions", "{not json"), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_replica_added_to_configuration_while_running_is_discovered()
    {
        await using var a = await StubReplica.StartAsync("alpha");
        await using var b = await StubReplica.StartAsync("beta");
        await using var front = await ApiFront.StartAsync(ApiFront.Group("inference", a),
            new Dictionary<string, string?> { ["Api:Routing:RefreshInterval"] = "00:00:00.200" });
        await ErrorOf(await front.PostAsync("v1/chat/completions", ApiFront.Chat("beta", "hi")), HttpStatusCode.NotFound);

        front.Configuration["services:inference:http:1"] = b.Url;
        await ApiFront.EventuallyAsync(() => front.Registry.Current.ByModel.ContainsKey("beta"), "the periodic refresh finds beta");
        using var response = await front.PostAsync("v1/chat/completions", ApiFront.Chat("beta", "hi"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, b.Received);
    }
}
