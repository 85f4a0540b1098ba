using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Options;
using ReasoningServe.Api.Options;
using ReasoningServe.Api.Routing;

namespace ReasoningServe.Api.Proxy;

/// <summary>
/// The connections to the replicas. Built directly on <see cref="SocketsHttpHandler"/> rather than through
/// IHttpClientFactory, on purpose: ServiceDefaults gives every factory client the standard resilience handler, whose
/// 30-second total timeout and own retries would cut long streams and retry behind our back. Resilience for proxied
/// calls lives in <see cref="Resilience.ResiliencePipelines"/> only. W3C trace context is still propagated (the
/// handler's default propagator).
/// </summary>
internal sealed class UpstreamClient : IDisposable
{
    private readonly string? _upstreamKey;

    public UpstreamClient(IOptions<FrontOptions> options)
    {
        _upstreamKey = options.Value.UpstreamApiKey;
        Invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectTimeout = options.Value.Resilience.ConnectTimeout,
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            EnableMultipleHttp2Connections = true,
        }, disposeHandler: true);
        Probes = new HttpClient(new SocketsHttpHandler { ConnectTimeout = options.Value.Routing.ProbeTimeout, UseProxy = false })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>For proxied requests: no timeout of its own, no buffering (callers use ResponseHeadersRead).</summary>
    public HttpMessageInvoker Invoker { get; }

    /// <summary>For /v1/models and /health probes.</summary>
    public HttpClient Probes { get; }

    public HttpRequestMessage NewRequest(HttpMethod method, Replica replica, string path)
    {
        var request = new HttpRequestMessage(method, new Uri(replica.BaseAddress, path)) { Version = HttpVersion.Version11 };
        if (_upstreamKey is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _upstreamKey);
        }
        return request;
    }

    public void Dispose()
    {
        Invoker.Dispose();
        Probes.Dispose();
    }
}
