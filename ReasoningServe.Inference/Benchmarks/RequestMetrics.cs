namespace ReasoningServe.Inference.Benchmarks;

/// <summary>What one streamed request measured. Times are seconds: StartTime from the run's start, the rest from sending.</summary>
internal sealed class RequestMetrics
{
    public bool Success { get; set; }
    public string? Error { get; set; }
    public double StartTime { get; set; }
    public int PromptLen { get; set; }
    public int OutputTokens { get; set; }
    public int ReasoningTokens { get; set; }
    public double Ttft { get; set; }
    public double Latency { get; set; }
    /// <summary>Gaps between consecutive chunks that carried text or reasoning, after the first.</summary>
    public List<double> Itl { get; } = [];
    public string GeneratedText { get; set; } = "";
    public string ReasoningText { get; set; } = "";
}
