using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ReasoningServe.Tests.Api;

/// <summary>A real redis-server child process on a free loopback port (installed by tools/setup.sh); stoppable and restartable.</summary>
internal sealed class RedisServer : IDisposable
{
    private Process? _process;

    private RedisServer(string executable, int port)
    {
        Executable = executable;
        Port = port;
    }

    public string Executable { get; }
    public int Port { get; }
    public string ConnectionString => $"127.0.0.1:{Port}";

    public static string? Find()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>Starts one, or skips the test with the reason when redis-server is not installed.</summary>
    public static async Task<RedisServer> StartAsync()
    {
        var executable = Find();
        Skip.If(executable is null, "redis-server is not installed (tools/setup.sh installs it); Redis-backed routing is untested here.");
        var server = new RedisServer(executable!, FreePort());
        await server.RestartAsync();
        return server;
    }

    public async Task RestartAsync()
    {
        _process = Process.Start(new ProcessStartInfo(Executable)
        {
            ArgumentList = { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    public void Stop()
    {
        if (_process is { } process)
        {
            _process = null;
            process.Kill();
            process.WaitForExit();
            process.Dispose();
        }
    }

    public void Dispose() => Stop();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
