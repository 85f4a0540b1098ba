using System.Runtime.InteropServices;

namespace ReasoningServe.AppHost.Orchestration;

/// <summary>SIGTERM for a child: .NET's Process.Kill only sends SIGKILL, which gives a server no chance to drain.</summary>
internal static partial class Signals
{
    private const int SigTerm = 15;

    public static bool TryTerminate(int pid) =>
        !OperatingSystem.IsWindows() && Kill(pid, SigTerm) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
