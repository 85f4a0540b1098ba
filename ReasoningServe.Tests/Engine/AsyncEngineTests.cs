using System.Globalization;
using System.Text.RegularExpressions;
using ReasoningServe.Inference.Backends;
using ReasoningServe.Inference.Engine;
using ReasoningServe.Inference.Model;

namespace ReasoningServe.Tests.Engine;

public class AsyncEngineTests(TinyModel model) : IClassFixture<TinyModel>
{
    private static readonly SamplingParams Greedy = new() { Temperature = 0, MaxTokens = 12, IgnoreEos = true };
    private static readonly EngineOptions Options = new() { MaxModelLen = 128, MaxNumBatchedTokens = 48, NumKvBlocks = 40 };

    [Fact]
    public async Task Concurrent_streams_receive_the_same_tokens_as_the_synchronous_engine()
    {
        var rng = new Random(21);
        EngineRequest[] requests = Enumerable.Range(0, 6)
            .Select(i => new EngineRequest($"r{i}", LLMEngineTests.RandomPrompt(rng, 10 + 15 * i), Greedy with { MaxTokens = 8 + i }))
            .ToArray();

        await using var engine = new AsyncEngine(model.Engine(Options));
        List<RequestOutput>[] streamed = await Task.WhenAll(requests.Select(r => Collect(engine, r, CancellationToken.None)));

        for (int i = 0; i < requests.Length; i++)
        {
            LLMEngine alone = model.Engine(Options);
            alone.AddRequest(requests[i]);
            Assert.Equal(LLMEngineTests.Tokens(LLMEngineTests.RunOutputs(alone), 0), LLMEngineTests.Tokens(streamed[i], 0));
            Assert.True(streamed[i][^1].Finished);
            Assert.Single(streamed[i], o => o.Finished);
        }
        Assert.True(engine.IsHealthy);
    }

    [Fact]
    public async Task Loop_timings_report_each_phase_per_window_of_steps_and_change_no_tokens()
    {
        var request = new EngineRequest("timed", LLMEngineTests.RandomPrompt(new Random(5), 20), Greedy with { MaxTokens = 40 });
        var report = new StringWriter();
        LLMEngine timed = model.Engine(Options);
        timed.Timings = new LoopTimings(report, window: 16);
        await using var engine = new AsyncEngine(timed);
        List<RequestOutput> streamed = await Collect(engine, request, CancellationToken.None);

        LLMEngine alone = model.Engine(Options);
        alone.AddRequest(request);
        Assert.Equal(LLMEngineTests.Tokens(LLMEngineTests.RunOutputs(alone), 0), LLMEngineTests.Tokens(streamed, 0));
        // 40 tokens: the prefill's step, then 39 decode steps each after another, two full windows of 16
        string[] lines = report.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        foreach (string line in lines)
        {
            Assert.StartsWith("engine loop, last 16 steps (us, median / p90):", line, StringComparison.Ordinal);
            foreach (string phase in new[] { "schedule", "launch", "wait", "outputs", "deliver", "between steps" })
            {
                Match m = Regex.Match(line, $@" {phase} ([0-9.]+) / ([0-9.]+);");
                Assert.True(m.Success, $"{phase} missing from '{line}'");
                Assert.True(double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) <= double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
            }
        }
    }

    [Fact]
    public async Task Cancelling_a_stream_aborts_the_request_and_frees_its_blocks()
    {
        // Up to 4,000 tokens: the loop cannot finish it in the moment between the cancel and the abort.
        var options = new EngineOptions { MaxModelLen = 4096, NumKvBlocks = 300 };
        await using var engine = new AsyncEngine(model.Engine(options));
        using var cts = new CancellationTokenSource();
        var request = new EngineRequest("long", LLMEngineTests.RandomPrompt(new Random(2), 40), Greedy with { MaxTokens = null });
        var received = new List<RequestOutput>();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (RequestOutput output in engine.GenerateAsync(request, cts.Token))
            {
                received.Add(output);
                if (received.Count == 3)
                {
                    cts.Cancel();
                }
            }
        });
        Assert.Equal(3, received.Count);
        Assert.DoesNotContain(received, o => o.Finished);

        // The abort lands at the next step boundary; a request queued after it proves it was handled.
        List<RequestOutput> after = await Collect(engine, new EngineRequest("after", [5, 6, 7], Greedy with { MaxTokens = 1 }), CancellationToken.None);
        Assert.True(after[^1].Finished);
        await WaitUntil(() => engine.Stats.NumFreeBlocks == 300 && engine.Stats.NumRunning == 0);
        Assert.True(engine.Stats.GenerationTokens < 4096 - 40);
    }

    [Fact]
    public async Task A_rejected_request_fails_alone_and_a_duplicate_id_does_not_abort_the_original()
    {
        await using var engine = new AsyncEngine(model.Engine(Options));
        await Assert.ThrowsAsync<ArgumentException>(() => Collect(engine, new EngineRequest("bad", [], Greedy), CancellationToken.None));

        // Submitted back to back: the first cannot have finished its 120 steps before the second arrives.
        var original = new EngineRequest("same", [5, 6, 7], Greedy with { MaxTokens = 120 });
        Task<List<RequestOutput>> first = Collect(engine, original, CancellationToken.None);
        Task<List<RequestOutput>> duplicate = Collect(engine, original, CancellationToken.None);
        await Assert.ThrowsAsync<ArgumentException>(() => duplicate);
        Assert.Equal(120, LLMEngineTests.Tokens(await first, 0).Count);
        Assert.True(engine.IsHealthy);
    }

    [Fact]
    public async Task A_failing_forward_fails_every_request_in_flight_and_marks_the_engine_unhealthy()
    {
        await using var engine = new AsyncEngine(model.Engine(Options, wrap: b => new FailingBackend(b, failOnCall: 10)));
        Task<List<RequestOutput>>[] streams = Enumerable.Range(0, 3)
            .Select(i => Collect(engine, new EngineRequest($"r{i}", [5 + i, 6, 7], Greedy with { MaxTokens = 50 }), CancellationToken.None))
            .ToArray();
        foreach (Task<List<RequestOutput>> stream in streams)
        {
            // In flight: the injected error itself; submitted after the loop died: "not running", caused by it.
            InvalidOperationException e = await Assert.ThrowsAsync<InvalidOperationException>(() => stream);
            Assert.Equal(FailingBackend.Message, e.InnerException?.Message ?? e.Message);
        }
        Assert.False(engine.IsHealthy);
        await Assert.ThrowsAsync<InvalidOperationException>(() => Collect(engine, new EngineRequest("late", [5], Greedy), CancellationToken.None));
    }

    private static async Task<List<RequestOutput>> Collect(AsyncEngine engine, EngineRequest request, CancellationToken ct)
    {
        var outputs = new List<RequestOutput>();
        await foreach (RequestOutput o in engine.GenerateAsync(request, ct))
        {
            outputs.Add(o);
        }
        return outputs;
    }

    /// <summary>Waits for the loop thread to reach a state; generous, since the machine is shared.</summary>
    private static async Task WaitUntil(Func<bool> condition)
    {
        for (int i = 0; i < 6000 && !condition(); i++)
        {
            await Task.Delay(10);
        }
        Assert.True(condition());
    }

    /// <summary>The real CPU backend, with a fault injected on one Forward call.</summary>
    private sealed class FailingBackend(IModelBackend inner, int failOnCall) : IModelBackend
    {
        public const string Message = "injected backend failure";
        private int _calls;

        public ModelConfig Config => inner.Config;
        public void AllocateKvCache(int numBlocks, int blockSize) => inner.AllocateKvCache(numBlocks, blockSize);
        public long KvBlockBytes(int blockSize) => inner.KvBlockBytes(blockSize);
        public void Dispose() => inner.Dispose();

        public void Forward(ForwardBatch batch, Span<float> logits)
        {
            if (++_calls == failOnCall)
            {
                throw new InvalidOperationException(Message);
            }
            inner.Forward(batch, logits);
        }
    }
}
