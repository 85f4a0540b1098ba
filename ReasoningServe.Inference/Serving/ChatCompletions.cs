using System.Text;
using ReasoningServe.Inference.Engine;
using ReasoningServe.Inference.Serving.Api;
using ReasoningServe.Inference.Serving.Errors;
using ReasoningServe.Inference.Serving.Metrics;
using ReasoningServe.Inference.Serving.Reasoning;
using ReasoningServe.Inference.Serving.Streaming;

namespace ReasoningServe.Inference.Serving;

/// <summary>POST /v1/chat/completions: template → engine → reasoning split, as one response or as SSE chunks.</summary>
internal sealed class ChatCompletions(ServedModel model, IEngineClient engine, PrometheusMetrics metrics)
{
    public async Task HandleAsync(HttpContext context)
    {
        var request = await RequestBody.ReadAsync(context, OpenAIJsonContext.Wire.ChatCompletionRequest);
        model.EnsureServes(request.Model);
        var prompt = ChatPrompt.Render(model, request.Messages, request.ChatTemplateKwargs,
            request.AddGenerationPrompt ?? true, request.ContinueFinalMessage ?? false, request.Tools,
            request.ReasoningEffort, request.AddSpecialTokens ?? false);

        if (request.TopLogprobs is not null && request.Logprobs != true)
        {
            throw OpenAIException.BadRequest("When using `top_logprobs`, `logprobs` must be set to true.", "top_logprobs");
        }
        var logprobs = request.Logprobs == true ? request.TopLogprobs ?? 0 : (int?)null;
        var sampling = SamplingParamsFactory.Create(request, model, prompt.TokenIds.Length,
            request.MaxCompletionTokens ?? request.MaxTokens, logprobs);
        sampling = WithThinkingBudget(sampling, request.ThinkingTokenBudget, prompt.TokenIds);

        var reasoning = new ChoiceReasoning(model.ReasoningParser, prompt.TokenIds,
            ChatPrompt.ThinkingEnabled(prompt.Kwargs), request.IncludeReasoning ?? true);
        var engineRequest = new EngineRequest("chatcmpl-" + Guid.NewGuid().ToString("N"), prompt.TokenIds, sampling);
        var formatter = new LogprobFormatter(model.Tokenizer, request.ReturnTokensAsTokenIds ?? false);
        if (request.Stream == true)
        {
            await StreamAsync(context, engineRequest, reasoning, formatter, request.StreamOptions?.IncludeUsage ?? false);
        }
        else
        {
            await CompleteAsync(context, engineRequest, reasoning, formatter);
        }
    }

    private SamplingParams WithThinkingBudget(SamplingParams sampling, int? budget, int[] promptIds)
    {
        if (budget is null)
        {
            return sampling;
        }
        var parser = model.ReasoningParser
            ?? throw OpenAIException.BadRequest(
                "thinking_token_budget needs a reasoning model: start the server with --reasoning-parser.", "thinking_token_budget");
        if (budget < 0)
        {
            throw OpenAIException.BadRequest($"thinking_token_budget must be non-negative, got {budget}.", "thinking_token_budget");
        }
        return sampling with
        {
            ThinkingTokenBudget = budget,
            ThinkStartTokenId = parser.StartTokenId,
            ThinkEndTokenId = parser.EndTokenId,
            PromptOpensThinking = LastThinkTagIsStart(promptIds, parser),
        };
    }

    private static bool LastThinkTagIsStart(ReadOnlySpan<int> ids, IReasoningParser parser)
    {
        for (var i = ids.Length - 1; i >= 0; i--)
        {
            if (ids[i] == parser.StartTokenId)
            {
                return true;
            }
            if (ids[i] == parser.EndTokenId)
            {
                return false;
            }
        }
        return false;
    }

    private async Task CompleteAsync(
        HttpContext context, EngineRequest request, ChoiceReasoning reasoning, LogprobFormatter formatter)
    {
        var n = request.Params.N;
        var texts = new StringBuilder[n];
        var ids = new List<int>[n];
        var logprobs = request.Params.Logprobs is null ? null : new List<ChatLogprob>[n];
        var finish = new string?[n];
        var stopReasons = new object?[n];
        for (var i = 0; i < n; i++)
        {
            texts[i] = new StringBuilder();
            ids[i] = [];
            logprobs?[i] = [];
        }
        var timer = metrics.StartRequest();
        int promptTokens = request.PromptTokenIds.Length, cachedTokens = 0;
        await foreach (var output in engine.GenerateAsync(request, context.RequestAborted))
        {
            promptTokens = output.PromptTokenCount;
            cachedTokens = output.CachedTokenCount;
            var produced = 0;
            foreach (var delta in output.Deltas)
            {
                texts[delta.Index].Append(delta.Text);
                ids[delta.Index].AddRange(delta.TokenIds);
                produced += delta.TokenIds.Length;
                if (logprobs is not null && delta.Logprobs is not null)
                {
                    formatter.AppendChat(logprobs[delta.Index], delta.Logprobs);
                }
                if (delta.FinishReason is not null)
                {
                    finish[delta.Index] = delta.FinishReason;
                    stopReasons[delta.Index] = delta.StopReason;
                }
            }
            timer.OnTokens(produced);
        }
        timer.OnFinished(finish[0] ?? "abort");

        var choices = new List<ChatChoice>(n);
        int completionTokens = 0, reasoningTokens = 0;
        for (var i = 0; i < n; i++)
        {
            var split = reasoning.Split(texts[i].ToString());
            completionTokens += ids[i].Count;
            reasoningTokens += reasoning.CountReasoningTokens(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ids[i]));
            choices.Add(new ChatChoice
            {
                Index = i,
                Message = new ChatResponseMessage
                {
                    Content = split.Content,
                    ReasoningContent = model.ReasoningField != ReasoningFieldMode.Reasoning ? split.Reasoning : null,
                    Reasoning = model.ReasoningField != ReasoningFieldMode.ReasoningContent ? split.Reasoning : null,
                },
                Logprobs = logprobs is null ? null : new ChatLogprobs { Content = logprobs[i] },
                FinishReason = finish[i],
                StopReason = stopReasons[i],
            });
        }
        var response = new ChatCompletionResponse
        {
            Id = request.RequestId,
            Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            Model = model.Name,
            Choices = choices,
            Usage = Usage(promptTokens, completionTokens, cachedTokens, reasoningTokens),
        };
        await context.Response.WriteAsJsonAsync(response, OpenAIJsonContext.Wire.ChatCompletionResponse, cancellationToken: context.RequestAborted);
    }

    private async Task StreamAsync(
        HttpContext context, EngineRequest request, ChoiceReasoning reasoning, LogprobFormatter formatter, bool includeUsage)
    {
        var n = request.Params.N;
        var streams = new ReasoningStream?[n];
        var ids = new List<int>[n];
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var cancel = context.RequestAborted;
        var timer = metrics.StartRequest();
        // Start the engine before the first byte goes out, so validation errors inside the engine still get a status.
        var outputs = engine.GenerateAsync(request, cancel).GetAsyncEnumerator(cancel);
        try
        {
            var sse = Sse.Start(context.Response);
            for (var i = 0; i < n; i++)
            {
                streams[i] = reasoning.StartStream();
                ids[i] = [];
                await sse.WriteAsync(Chunk(request.RequestId, created, new ChatChunkChoice
                {
                    Index = i,
                    Delta = new ChatDelta { Role = "assistant", Content = "" },
                }), OpenAIJsonContext.Wire.ChatCompletionChunk, cancel);
            }
            int promptTokens = request.PromptTokenIds.Length, cachedTokens = 0;
            string? lastFinish = null;
            while (await outputs.MoveNextAsync())
            {
                var output = outputs.Current;
                promptTokens = output.PromptTokenCount;
                cachedTokens = output.CachedTokenCount;
                var produced = 0;
                foreach (var delta in output.Deltas)
                {
                    produced += delta.TokenIds.Length;
                    ids[delta.Index].AddRange(delta.TokenIds);
                    var piece = reasoning.Next(streams[delta.Index], delta.TokenIds, delta.Text);
                    List<ChatLogprob>? logprobs = null;
                    if (delta.Logprobs is { Count: > 0 })
                    {
                        logprobs = new List<ChatLogprob>(delta.Logprobs.Count);
                        formatter.AppendChat(logprobs, delta.Logprobs);
                    }
                    if (piece.IsEmpty && delta.FinishReason is null && logprobs is null)
                    {
                        continue;
                    }
                    lastFinish = delta.FinishReason ?? lastFinish;
                    await sse.WriteAsync(Chunk(request.RequestId, created, new ChatChunkChoice
                    {
                        Index = delta.Index,
                        Delta = new ChatDelta
                        {
                            Content = piece.Content,
                            ReasoningContent = model.ReasoningField != ReasoningFieldMode.Reasoning ? piece.Reasoning : null,
                            Reasoning = model.ReasoningField != ReasoningFieldMode.ReasoningContent ? piece.Reasoning : null,
                        },
                        Logprobs = logprobs is null ? null : new ChatLogprobs { Content = logprobs },
                        FinishReason = delta.FinishReason,
                        StopReason = delta.StopReason,
                    }), OpenAIJsonContext.Wire.ChatCompletionChunk, cancel);
                }
                timer.OnTokens(produced);
            }
            timer.OnFinished(lastFinish ?? "abort");
            if (includeUsage)
            {
                int completionTokens = 0, reasoningTokens = 0;
                for (var i = 0; i < n; i++)
                {
                    completionTokens += ids[i].Count;
                    reasoningTokens += reasoning.CountReasoningTokens(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ids[i]));
                }
                var usageChunk = new ChatCompletionChunk
                {
                    Id = request.RequestId,
                    Created = created,
                    Model = model.Name,
                    Choices = [],
                    Usage = Usage(promptTokens, completionTokens, cachedTokens, reasoningTokens),
                };
                await sse.WriteAsync(usageChunk, OpenAIJsonContext.Wire.ChatCompletionChunk, cancel);
            }
            await sse.DoneAsync(cancel);
        }
        finally
        {
            await outputs.DisposeAsync();
        }
    }

    private ChatCompletionChunk Chunk(string id, long created, ChatChunkChoice choice) => new()
    {
        Id = id,
        Created = created,
        Model = model.Name,
        Choices = [choice],
    };

    internal static Usage Usage(int promptTokens, int completionTokens, int cachedTokens, int reasoningTokens) => new()
    {
        PromptTokens = promptTokens,
        CompletionTokens = completionTokens,
        PromptTokensDetails = new PromptTokensDetails { CachedTokens = cachedTokens },
        CompletionTokensDetails = new CompletionTokensDetails { ReasoningTokens = reasoningTokens },
    };
}
