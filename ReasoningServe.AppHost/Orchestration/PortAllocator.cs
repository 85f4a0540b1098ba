using System.Net;
using System.Net.Sockets;

namespace ReasoningServe.AppHost.Orchestration;

internal static class PortAllocator
{
    /// <summary>A loopback port the OS just handed out and released, for a child to bind moments later.</summary>
    public static int GetFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
