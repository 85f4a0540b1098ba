using ReasoningServe.AppHost.Orchestration;

namespace ReasoningServe.Tests.AppHost;

public sealed class PrometheusTextTests
{
    [Fact]
    public void Ongoing_requests_add_running_and_waiting_over_every_label_set_and_nothing_else()
    {
        const string metrics = """
            # HELP vllm:num_requests_running Number of requests in model execution batches.
            # TYPE vllm:num_requests_running gauge
            vllm:num_requests_running{engine="0",model_name="qwq"} 3.0
            vllm:num_requests_running{engine="1",model_name="a b}c"} 1
            # HELP vllm:num_requests_waiting Number of requests waiting to be processed.
            # TYPE vllm:num_requests_waiting gauge
            vllm:num_requests_waiting{engine="0",model_name="qwq"} 2.0 1712345678000
            vllm:num_requests_waiting_total 100
            vllm:kv_cache_usage_perc{engine="0"} 0.5
            vllm:num_requests_swapped 7
            """;

        Assert.Equal(6.0, PrometheusText.Sum(metrics, PrometheusText.OngoingRequestMetrics));
    }
}
