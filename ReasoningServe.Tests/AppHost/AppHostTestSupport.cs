using System.Diagnostics;
using ReasoningServe.AppHost.Orchestration;

namespace ReasoningServe.Tests.AppHost;

internal static class AppHostTestSupport
{
    public static string RepositoryRoot => Path.GetDirectoryName(Projects.AppHostProject.Directory)!;

    public static string AppHostAssembly => typeof(ReasoningServe.AppHost.Hosting.DistributedApplication).Assembly.Location;

    /// <summary>A bound on how long a test waits for something that must happen, so a broken build fails instead of hanging.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, int seconds = 60)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(seconds))
            {
                throw new TimeoutException($"Gave up waiting for: {what}");
            }
            await Task.Delay(50);
        }
    }

    /// <summary>Runs the real AppHost program (its Program.cs), as azd does, and returns exit code and output.</summary>
    public static (int ExitCode, string Output) RunAppHost(string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        info.ArgumentList.Add(AppHostAssembly);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("The AppHost did not exit.");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    public static string WriteTempFile(string directory, string name, string text)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, text);
        return path;
    }
}

/// <summary>A <see cref="ConsoleLog"/> that tests can read back while children write to it.</summary>
internal sealed class CapturedLog
{
    private readonly LockedStringWriter _writer = new();

    public CapturedLog() => Log = new ConsoleLog(_writer);

    public ConsoleLog Log { get; }

    public string Text => _writer.ToString();

    public string[] Lines => Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private sealed class LockedStringWriter : StringWriter
    {
        private readonly Lock _lock = new();

        public override void Write(char value)
        {
            lock (_lock)
            {
                base.Write(value);
            }
        }

        public override void Write(string? value)
        {
            lock (_lock)
            {
                base.Write(value);
            }
        }

        public override void Write(char[] buffer, int index, int count)
        {
            lock (_lock)
            {
                base.Write(buffer, index, count);
            }
        }

        public override string ToString()
        {
            lock (_lock)
            {
                return base.ToString();
            }
        }
    }
}
