namespace ReasoningServe.Tools.CudaCheck;

/// <summary>Collects pass/fail lines so the report ends with one summary.</summary>
internal static class Report
{
    public static int Failures { get; private set; }
    public static int Passes { get; private set; }

    public static void Section(string title) => Console.WriteLine($"\n== {title} ==");

    public static void Line(string text) => Console.WriteLine(text);

    public static void Check(string name, bool ok, string detail)
    {
        if (ok)
        {
            Passes++;
        }
        else
        {
            Failures++;
        }
        Console.WriteLine($"  [{(ok ? "ok" : "FAIL")}] {name,-44} {detail}");
    }

    public static void ErrorCheck(string name, (double MaxAbs, double Relative) e, double tolerance) =>
        Check(name, e.Relative <= tolerance, $"max abs {e.MaxAbs:E2}  rel {e.Relative:E2}  (tol {tolerance:E0})");
}
