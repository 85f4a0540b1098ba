using System.Globalization;

namespace ReasoningServe.AppHost.Orchestration;

/// <summary>Descendants of a process, from /proc, so that a child that exits and leaves its own children behind leaves no orphans.</summary>
internal static class ProcessTree
{
    public static List<int> Descendants(int pid)
    {
        var result = new List<int>();
        if (!OperatingSystem.IsLinux())
        {
            return result;
        }
        var parents = new Dictionary<int, List<int>>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var child)
                || ParentOf(directory) is not int parent)
            {
                continue;
            }
            if (!parents.TryGetValue(parent, out var children))
            {
                parents[parent] = children = [];
            }
            children.Add(child);
        }
        var pending = new Stack<int>([pid]);
        while (pending.TryPop(out var current))
        {
            if (parents.TryGetValue(current, out var children))
            {
                foreach (var child in children)
                {
                    result.Add(child);
                    pending.Push(child);
                }
            }
        }
        return result;
    }

    public static bool IsAlive(int pid)
    {
        if (!OperatingSystem.IsLinux())
        {
            try
            {
                return !System.Diagnostics.Process.GetProcessById(pid).HasExited;
            }
            catch (ArgumentException)
            {
                return false;
            }
        }
        // A zombie (exited, not yet reaped by its parent) no longer runs anything.
        return ReadStat($"/proc/{pid}") is { } stat && StateOf(stat) is not ('Z' or 'X');
    }

    private static int? ParentOf(string procDirectory) =>
        ReadStat(procDirectory) is { } stat
        && stat[(stat.LastIndexOf(')') + 2)..].Split(' ') is [_, var ppid, ..]
        && int.TryParse(ppid, NumberStyles.None, CultureInfo.InvariantCulture, out var parent)
            ? parent
            : null;

    private static char StateOf(string stat) => stat[stat.LastIndexOf(')') + 2];

    private static string? ReadStat(string procDirectory)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procDirectory, "stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
