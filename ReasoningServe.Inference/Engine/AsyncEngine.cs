using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace ReasoningServe.Inference.Engine;

/// <summary>
/// Drives an <see cref="LLMEngine"/> from one background thread and streams each request's outputs through its own
/// channel. Callers never touch the engine: additions and aborts go through a queue that the loop drains between steps.
/// The loop sleeps on a signal while there is no work.
/// </summary>
internal sealed class AsyncEngine : IEngineClient, IDisposable, IAsyncDisposable
{
    private readonly LLMEngine _engine;
    private readonly ConcurrentQueue<Command> _commands = new();
    private readonly Dictionary<string, Channel<RequestOutput>> _streams = [];
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Lock _gate = new();
    private readonly Thread _loop;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _closedBecause;
    private volatile bool _stopping;
    private EngineStats _stats;
    private readonly IDisposable? _owned;
    private readonly LoopTimings? _timings;

    /// <param name="engine">The engine the loop thread drives.</param>
    /// <param name="owned">Disposed once the loop has stopped (the backend and its weights, when the host hands them over).</param>
    public AsyncEngine(LLMEngine engine, IDisposable? owned = null)
    {
        _engine = engine;
        _owned = owned;
        MaxModelLen = engine.MaxModelLen;
        _stats = engine.Stats;
        _timings = engine.Timings ??= LoopTimings.FromEnvironment();
        _loop = new Thread(RunLoop) { IsBackground = true, Name = "engine-loop" };
        _loop.Start();
    }

    public int MaxModelLen { get; }

    public bool IsHealthy { get; private set; } = true;

    public EngineStats Stats
    {
        get
        {
            lock (_gate)
            {
                return _stats;
            }
        }
    }

    public async IAsyncEnumerable<RequestOutput> GenerateAsync(EngineRequest request,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateUnbounded<RequestOutput>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        Submit(new Command(request.RequestId, request, channel, Abort: false));
        bool finished = false;
        try
        {
            await foreach (RequestOutput output in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                finished = output.Finished;
                yield return output;
                if (finished)
                {
                    yield break;
                }
                // Outputs already buffered would otherwise keep flowing after cancellation.
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        finally
        {
            if (!finished)
            {
                // Cancelled, or the consumer stopped early: the loop aborts at the next step boundary and frees the blocks.
                TrySubmit(new Command(request.RequestId, null, channel, Abort: true));
            }
        }
    }

    /// <summary>Stops the loop after the current step; requests still in flight fail with <see cref="ObjectDisposedException"/>.</summary>
    public Task StopAsync()
    {
        _stopping = true;
        _wake.Set();
        return _stopped.Task;
    }

    public void Dispose()
    {
        StopAsync();
        if (Thread.CurrentThread != _loop)
        {
            _loop.Join();
            _owned?.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _loop.Join();
        _owned?.Dispose();
    }

    private void Submit(Command command)
    {
        if (!TrySubmit(command))
        {
            throw new InvalidOperationException("The engine loop is not running.", _closedBecause);
        }
    }

    private bool TrySubmit(Command command)
    {
        lock (_gate)
        {
            if (_closedBecause is not null)
            {
                return false;
            }
            _commands.Enqueue(command);
        }
        _wake.Set();
        return true;
    }

    private void RunLoop()
    {
        Exception closedBecause = new ObjectDisposedException(nameof(AsyncEngine));
        try
        {
            long stepped = 0; // when the last step's outputs were delivered (timings only)
            while (!_stopping)
            {
                _wake.Reset();
                DrainCommands();
                if (!_engine.HasUnfinished)
                {
                    PublishStats();
                    _wake.Wait();
                    stepped = 0;
                    continue;
                }
                IReadOnlyList<RequestOutput> outputs = _engine.Step();
                long delivering = _timings is null ? 0 : Stopwatch.GetTimestamp();
                foreach (RequestOutput output in outputs)
                {
                    Deliver(output);
                }
                PublishStats();
                if (_timings is not null)
                {
                    // a step that delivered nothing (prefill chunks) is left out, and so is the time before the next
                    stepped = outputs.Count > 0 ? RecordLoop(_timings, delivering, stepped) : 0;
                }
            }
        }
        catch (Exception ex)
        {
            IsHealthy = false;
            closedBecause = ex;
        }
        finally
        {
            lock (_gate)
            {
                _closedBecause = closedBecause;
            }
            DrainCommands(closedBecause);
            foreach (Channel<RequestOutput> stream in _streams.Values)
            {
                stream.Writer.TryComplete(closedBecause);
            }
            _streams.Clear();
            _stopped.TrySetResult();
        }
    }

    /// <summary>
    /// The step's delivery, and the loop's time between the previous step's delivery and this step (none after an idle
    /// wait); <see cref="LLMEngine.Step"/> recorded its own phases. Returns when this step's delivery was done.
    /// </summary>
    private static long RecordLoop(LoopTimings timings, long delivering, long previousStepDone)
    {
        long stepDone = timings.Record(LoopTimings.Phase.Deliver, delivering);
        if (previousStepDone != 0) // steps right after an idle wait are left out
        {
            timings.RecordBetween(previousStepDone, stepDone);
            timings.EndStep();
        }
        return stepDone;
    }

    private void DrainCommands(Exception? failWith = null)
    {
        while (_commands.TryDequeue(out Command command))
        {
            if (command.Abort)
            {
                // Only the stream that asked may abort: a rejected duplicate id must not abort the original request.
                if (_streams.TryGetValue(command.RequestId, out Channel<RequestOutput>? stream) && stream == command.Stream)
                {
                    _streams.Remove(command.RequestId);
                    _engine.Abort(command.RequestId);
                    stream.Writer.TryComplete();
                }
            }
            else if (failWith is not null)
            {
                command.Stream.Writer.TryComplete(failWith);
            }
            else
            {
                Add(command);
            }
        }
    }

    private void Add(Command command)
    {
        try
        {
            if (_streams.ContainsKey(command.RequestId))
            {
                throw new ArgumentException($"Request id '{command.RequestId}' is already in flight.");
            }
            _engine.AddRequest(command.Request!);
            _streams.Add(command.RequestId, command.Stream);
        }
        catch (ArgumentException ex)
        {
            // A bad request fails alone; the loop and the other requests carry on.
            command.Stream.Writer.TryComplete(ex);
        }
    }

    private void Deliver(RequestOutput output)
    {
        if (!_streams.TryGetValue(output.RequestId, out Channel<RequestOutput>? stream))
        {
            return;
        }
        stream.Writer.TryWrite(output);
        if (output.Finished)
        {
            stream.Writer.TryComplete();
            _streams.Remove(output.RequestId);
        }
    }

    private void PublishStats()
    {
        EngineStats stats = _engine.Stats;
        lock (_gate)
        {
            _stats = stats;
        }
    }

    /// <summary>An addition of <paramref name="Request"/> streaming to <paramref name="Stream"/>, or the abort of that stream.</summary>
    private readonly record struct Command(string RequestId, EngineRequest? Request, Channel<RequestOutput> Stream, bool Abort);
}
