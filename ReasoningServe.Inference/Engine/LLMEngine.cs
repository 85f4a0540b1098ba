using System.Diagnostics;
using ReasoningServe.Inference.Backends;
using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Inference.Engine;

/// <summary>
/// The synchronous engine: requests in, one <see cref="Step"/> at a time out. Single-threaded by design;
/// <see cref="AsyncEngine"/> owns the thread that drives it.
/// </summary>
internal sealed class LLMEngine
{
    private readonly IModelBackend _backend;
    private readonly Tokenizer? _tokenizer;
    private readonly EngineOptions _options;
    private readonly BlockManager _blocks;
    private readonly Scheduler _scheduler;
    private readonly Sampler _sampler;
    private readonly OutputProcessor _outputProcessor;
    private readonly Dictionary<string, RequestState> _requests = [];
    private readonly List<RequestState> _progressed = [];
    private readonly int _vocabSize;
    private float[] _logits = [];
    private int[] _greedyIds = [];
    private BackendSamplingParams[] _backendParams = [];
    private readonly BackendSamples _backendSamples = new();
    private readonly LogitAdjustments _adjustments = new();
    private long _promptTokens;
    private long _generationTokens;

    public LLMEngine(IModelBackend backend, Tokenizer? tokenizer, EngineOptions options)
    {
        _backend = backend;
        _tokenizer = tokenizer;
        _options = options;
        _vocabSize = backend.Config.VocabSize;
        int numBlocks = options.NumKvBlocks
            ?? (int)Math.Min(int.MaxValue, options.KvCacheBytes / backend.KvBlockBytes(options.BlockSize));
        if ((long)numBlocks * options.BlockSize < options.MaxModelLen)
        {
            throw new InvalidOperationException(
                $"The KV cache holds {(long)numBlocks * options.BlockSize} tokens ({numBlocks} blocks), fewer than " +
                $"max_model_len ({options.MaxModelLen}); lower max_model_len or give the cache more memory.");
        }
        backend.AllocateKvCache(numBlocks, options.BlockSize);
        _blocks = new BlockManager(numBlocks, options.BlockSize, options.EnablePrefixCaching);
        _scheduler = new Scheduler(options, _blocks);
        _sampler = new Sampler(_vocabSize, options.EosTokenIds);
        _outputProcessor = new OutputProcessor(options);
    }

    public bool HasUnfinished => _requests.Count > 0;

    /// <summary>Where each <see cref="Step"/>'s time goes, when set (<see cref="LoopTimings"/>).</summary>
    public LoopTimings? Timings { get; set; }

    public int MaxModelLen => _options.MaxModelLen;

    public EngineStats Stats => new(
        _scheduler.NumRunning, _scheduler.NumWaiting, _blocks.NumFreeBlocks, _blocks.NumTotalBlocks,
        _blocks.PrefixCacheQueries, _blocks.PrefixCacheHits, _promptTokens, _generationTokens, _scheduler.NumPreemptions);

    public void AddRequest(EngineRequest request)
    {
        int[] prompt = request.PromptTokenIds;
        SamplingParams p = request.Params;
        if (_requests.ContainsKey(request.RequestId))
        {
            throw new ArgumentException($"Request id '{request.RequestId}' is already in the engine.", nameof(request));
        }
        if (prompt.Length == 0 || prompt.Length > _options.MaxModelLen)
        {
            throw new ArgumentException(
                $"The prompt has {prompt.Length} tokens; it must have 1 to max_model_len ({_options.MaxModelLen}).", nameof(request));
        }
        foreach (int id in prompt)
        {
            if ((uint)id >= (uint)_vocabSize)
            {
                throw new ArgumentException($"Token id {id} is outside the vocabulary (size {_vocabSize}).", nameof(request));
            }
        }
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(p.N);

        var sequences = new Sequence[p.N];
        for (int i = 0; i < p.N; i++)
        {
            Random? rng = p.Seed is long seed ? new Random(FoldSeed(seed + i)) : null;
            IncrementalDetokenizer? detokenizer = _tokenizer is null ? null : new IncrementalDetokenizer(_tokenizer, p.SkipSpecialTokens);
            sequences[i] = new Sequence(request.RequestId, i, prompt, p, rng, detokenizer);
        }
        _requests.Add(request.RequestId, new RequestState(request, sequences));
        foreach (Sequence seq in sequences)
        {
            _scheduler.Add(seq);
        }
        _promptTokens += prompt.Length;
    }

    /// <summary>Stops a request wherever it is and frees its blocks. False if the engine does not know it (anymore).</summary>
    public bool Abort(string requestId)
    {
        if (!_requests.Remove(requestId, out RequestState? state))
        {
            return false;
        }
        foreach (Sequence seq in state.Sequences)
        {
            if (!seq.IsFinished)
            {
                seq.FinishReason = OutputProcessor.Abort;
                _scheduler.Finish(seq);
            }
        }
        return true;
    }

    /// <summary>Schedules, runs the model once, samples and returns the requests that made progress.</summary>
    public IReadOnlyList<RequestOutput> Step()
    {
        long start = Timings is null ? 0 : Stopwatch.GetTimestamp();
        SchedulerOutput scheduled = _scheduler.Schedule();
        if (scheduled.Count == 0)
        {
            return [];
        }
        ForwardBatch batch = scheduled.ToForwardBatch(_options.BlockSize);
        start = Timings?.Record(LoopTimings.Phase.Schedule, start) ?? 0;
        // All-greedy steps pick their tokens on the backend; so do steps whose every sampler setting the backend can
        // apply (temperature, top-k/p, min-p, seeds, logprobs); otherwise the fp32 logits come to the sampler.
        Span<int> greedy = GreedyIdsFor(scheduled.Count);
        bool sampledOnBackend = AllSampling(scheduled, Sampler.IsPlainGreedy) && _backend.TryForwardGreedy(batch, greedy);
        bool drawnOnBackend = !sampledOnBackend && _backend.SupportsSampling && AllSampling(scheduled, Sampler.IsBackendSamplable)
            && _backend.TryForwardSampled(batch, BackendParamsFor(scheduled), _adjustments, _backendSamples);
        Span<float> logits = sampledOnBackend || drawnOnBackend ? default : LogitsFor(scheduled.Count);
        if (!sampledOnBackend && !drawnOnBackend)
        {
            _backend.Forward(batch, logits);
        }
        if (Timings is { } timings)
        {
            // the launch's end as the backend saw it, when it says (and it fell in this step)
            long launched = _backend.LaunchedAt is long at && at >= start ? at : start;
            start = timings.Record(LoopTimings.Phase.Wait, timings.Record(LoopTimings.Phase.Launch, start, launched));
        }
        _scheduler.CompleteStep(scheduled);

        for (int i = 0; i < scheduled.Count; i++)
        {
            (Sequence seq, _, bool samples) = scheduled[i];
            if (!samples)
            {
                continue;
            }
            TokenLogprob? logprob = null;
            int token;
            if (sampledOnBackend)
            {
                token = greedy[i];
            }
            else if (drawnOnBackend)
            {
                token = _backendSamples.Tokens[i];
                logprob = Sampler.BackendLogprob(seq, _backendSamples, i);
            }
            else
            {
                token = _sampler.Sample(seq, logits.Slice(i * _vocabSize, _vocabSize), out logprob);
            }
            CompletionDelta delta = _outputProcessor.Process(seq, token, logprob);
            _generationTokens++;
            if (seq.FinishReason is not null)
            {
                _scheduler.Finish(seq);
            }
            RequestState state = _requests[seq.RequestId];
            if (state.StepDeltas.Count == 0)
            {
                _progressed.Add(state);
            }
            state.StepDeltas.Add(delta);
        }
        List<RequestOutput> outputs = CollectOutputs();
        Timings?.Record(LoopTimings.Phase.Outputs, start);
        return outputs;
    }

    private List<RequestOutput> CollectOutputs()
    {
        var outputs = new List<RequestOutput>(_progressed.Count);
        foreach (RequestState state in _progressed)
        {
            bool finished = Array.TrueForAll(state.Sequences, s => s.IsFinished);
            outputs.Add(new RequestOutput(state.Request.RequestId, state.Request.PromptTokenIds.Length,
                state.Sequences[0].NumCachedPromptTokens, [.. state.StepDeltas], finished));
            state.StepDeltas.Clear();
            if (finished)
            {
                _requests.Remove(state.Request.RequestId);
            }
        }
        _progressed.Clear();
        return outputs;
    }

    /// <summary>Whether every sequence that samples this step satisfies <paramref name="rule"/> (prefill chunks sample nothing).</summary>
    private static bool AllSampling(SchedulerOutput scheduled, Func<Sequence, bool> rule)
    {
        for (int i = 0; i < scheduled.Count; i++)
        {
            (Sequence seq, _, bool samples) = scheduled[i];
            if (samples && !rule(seq))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// One row of parameters and of logit adjustments per scheduled sequence; rows that sample nothing this step (a prefill
    /// chunk) ask for a plain argmax.
    /// </summary>
    private ReadOnlySpan<BackendSamplingParams> BackendParamsFor(SchedulerOutput scheduled)
    {
        if (_backendParams.Length < scheduled.Count)
        {
            _backendParams = new BackendSamplingParams[scheduled.Count];
        }
        _adjustments.Clear();
        for (int i = 0; i < scheduled.Count; i++)
        {
            (Sequence seq, _, bool samples) = scheduled[i];
            if (samples)
            {
                _backendParams[i] = _sampler.BackendParams(seq);
                _sampler.AddAdjustments(seq, _adjustments);
            }
            else
            {
                _backendParams[i] = new BackendSamplingParams(0f, 1f, 0, 0f, 0, -1);
                _adjustments.BeginRow();
            }
        }
        return _backendParams.AsSpan(0, scheduled.Count);
    }

    private Span<int> GreedyIdsFor(int numSeqs)
    {
        if (_greedyIds.Length < numSeqs)
        {
            _greedyIds = new int[numSeqs];
        }
        return _greedyIds.AsSpan(0, numSeqs);
    }

    private Span<float> LogitsFor(int numSeqs)
    {
        int needed = numSeqs * _vocabSize;
        if (_logits.Length < needed)
        {
            _logits = new float[needed];
        }
        return _logits.AsSpan(0, needed);
    }

    /// <summary>System.Random takes an int seed; fold all 64 bits so seeds differing only in high bits still differ.</summary>
    private static int FoldSeed(long seed) => unchecked((int)seed ^ (int)(seed >>> 32));

    private sealed class RequestState(EngineRequest request, Sequence[] sequences)
    {
        public EngineRequest Request { get; } = request;
        public Sequence[] Sequences { get; } = sequences;
        public List<CompletionDelta> StepDeltas { get; } = [];
    }
}
