using System.Net.Sockets;
using System.Text;

namespace ReasoningServe.AppHost.Orchestration;

/// <summary>Readiness checks: WaitFor means these pass, not merely that the process started.</summary>
internal static class HealthProbes
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    public static Func<CancellationToken, Task<bool>> Http200(Uri url) => async cancellationToken =>
    {
        try
        {
            using var response = await Http.GetAsync(url, cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    };

    public static Func<CancellationToken, Task<bool>> RedisPing(int port, string password) => async cancellationToken =>
    {
        try
        {
            return await RedisPingAsync(port, password, cancellationToken);
        }
        catch (Exception e) when (e is SocketException or IOException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    };

    /// <summary>AUTH then PING in RESP; true on +PONG. Enough of the protocol to know the server answers and the password works.</summary>
    public static async Task<bool> RedisPingAsync(int port, string password, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(EndpointLoopback, port, cancellationToken);
        var stream = client.GetStream();
        var passwordBytes = Encoding.UTF8.GetByteCount(password);
        var request = $"*2\r\n$4\r\nAUTH\r\n${passwordBytes}\r\n{password}\r\n*1\r\n$4\r\nPING\r\n";
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request), cancellationToken);
        var reply = new StringBuilder();
        var buffer = new byte[256];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        // Two replies (AUTH's, PING's), or one error that ends the exchange.
        while (reply.ToString().Split("\r\n").Length < 3 && !reply.ToString().StartsWith('-'))
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            if (read == 0)
            {
                return false;
            }
            reply.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }
        return reply.ToString() == "+OK\r\n+PONG\r\n";
    }

    private const string EndpointLoopback = "127.0.0.1";
}
