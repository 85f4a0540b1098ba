using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using ReasoningServe.Inference.Engine;
using ReasoningServe.Inference.Serving.Api;
using ReasoningServe.Inference.Serving.Errors;
using ReasoningServe.Inference.Serving.Metrics;
using ReasoningServe.Inference.Serving.Streaming;

namespace ReasoningServe.Inference.Serving;

/// <summary>
/// POST /v1/completions (the legacy API): one engine request per prompt, choices numbered prompt × n + choice as
/// OpenAI does, echo and integer logprobs. Reasoning is not split here; that is the chat API's job.
/// </summary>
internal sealed class Completions(ServedModel model, IEngineClient engine, PrometheusMetrics metrics)
{
    private const int DefaultMaxTokens = 16;

    private sealed record Prompt(string? Text, int[] TokenIds);

    public async Task HandleAsync(HttpContext context)
    {
        var request = await RequestBody.ReadAsync(context, OpenAIJsonContext.Wire.CompletionRequest);
        model.EnsureServes(request.Model);
        if (request.Suffix is not null)
        {
            throw OpenAIException.BadRequest("suffix is not supported.", "suffix");
        }
        var echo = request.Echo ?? false;
        if (echo && request.Logprobs is not null)
        {
            throw OpenAIException.BadRequest("echo together with logprobs needs prompt logprobs, which this server does not compute.", "echo");
        }
        var prompts = Prompts(request.Prompt, request.AddSpecialTokens ?? true);
        var id = "cmpl-" + Guid.NewGuid().ToString("N");
        var requests = new EngineRequest[prompts.Count];
        for (var p = 0; p < prompts.Count; p++)
        {
            var promptIds = prompts[p].TokenIds;
            var maxTokens = request.MaxTokens
                ?? Math.Min(DefaultMaxTokens, Math.Max(1, model.MaxModelLen - promptIds.Length));
            var sampling = SamplingParamsFactory.Create(request, model, promptIds.Length, maxTokens, request.Logprobs);
            requests[p] = new EngineRequest($"{id}-{p}", promptIds, sampling);
        }
        var formatter = new LogprobFormatter(model.Tokenizer, request.ReturnTokensAsTokenIds ?? false);
        var echoTexts = new string[prompts.Count];
        for (var p = 0; p < prompts.Count; p++)
        {
            echoTexts[p] = echo ? prompts[p].Text ?? model.Tokenizer.Decode(prompts[p].TokenIds) : "";
        }
        if (request.Stream == true)
        {
            await StreamAsync(context, id, requests, echoTexts, formatter, request.StreamOptions?.IncludeUsage ?? false);
        }
        else
        {
            await CompleteAsync(context, id, requests, echoTexts, formatter);
        }
    }

    private List<Prompt> Prompts(JsonElement? prompt, bool addSpecialTokens)
    {
        const string Shape = "prompt must be a string, a list of strings, a list of token ids or a list of token-id lists.";
        if (prompt is not { } p || p.ValueKind == JsonValueKind.Null)
        {
            throw OpenAIException.BadRequest("prompt is required.", "prompt");
        }
        var prompts = new List<Prompt>();
        if (p.ValueKind == JsonValueKind.String)
        {
            prompts.Add(FromText(p.GetString()!, addSpecialTokens));
            return prompts;
        }
        if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() == 0)
        {
            throw OpenAIException.BadRequest(Shape, "prompt");
        }
        var first = p[0].ValueKind;
        if (first == JsonValueKind.Number)
        {
            prompts.Add(FromIds(p));
            return prompts;
        }
        foreach (var item in p.EnumerateArray())
        {
            prompts.Add(item.ValueKind switch
            {
                JsonValueKind.String when first == JsonValueKind.String => FromText(item.GetString()!, addSpecialTokens),
                JsonValueKind.Array when first == JsonValueKind.Array => FromIds(item),
                _ => throw OpenAIException.BadRequest(Shape, "prompt"),
            });
        }
        return prompts;

        Prompt FromIds(JsonElement ids)
        {
            var tokens = new int[ids.GetArrayLength()];
            if (tokens.Length == 0)
            {
                throw OpenAIException.BadRequest("prompt token-id lists must not be empty.", "prompt");
            }
            var i = 0;
            foreach (var t in ids.EnumerateArray())
            {
                if (t.ValueKind != JsonValueKind.Number || !t.TryGetInt32(out tokens[i++]))
                {
                    throw OpenAIException.BadRequest(Shape, "prompt");
                }
            }
            SamplingParamsFactory.CheckTokenIds(tokens, model, "prompt");
            return new Prompt(null, tokens);
        }
    }

    private Prompt FromText(string text, bool addSpecialTokens)
    {
        var ids = model.Tokenizer.Encode(text, addSpecialTokens);
        if (ids.Length == 0)
        {
            throw OpenAIException.BadRequest("prompt must not be empty.", "prompt");
        }
        return new Prompt(text, ids);
    }

    private sealed class ChoiceState(string echo)
    {
        public readonly StringBuilder Text = new(echo);
        public int Tokens;
        public CompletionLogprobs? Logprobs;
        public string? FinishReason;
        public object? StopReason;
        public bool EchoSent;
    }

    private async Task CompleteAsync(
        HttpContext context, string id, EngineRequest[] requests, string[] echoTexts, LogprobFormatter formatter)
    {
        var n = requests[0].Params.N;
        var choices = new ChoiceState[requests.Length * n];
        for (var c = 0; c < choices.Length; c++)
        {
            choices[c] = new ChoiceState(echoTexts[c / n]);
        }
        int promptTokens = 0, cachedTokens = 0;
        await foreach (var (p, output) in Merge(requests, context.RequestAborted))
        {
            if (output.Finished)
            {
                promptTokens += output.PromptTokenCount;
                cachedTokens += output.CachedTokenCount;
            }
            foreach (var delta in output.Deltas)
            {
                var choice = choices[p * n + delta.Index];
                if (delta.Logprobs is not null)
                {
                    choice.Logprobs ??= new CompletionLogprobs();
                    formatter.AppendCompletion(choice.Logprobs, delta.Logprobs, choice.Text.Length);
                }
                choice.Text.Append(delta.Text);
                choice.Tokens += delta.TokenIds.Length;
                choice.FinishReason = delta.FinishReason ?? choice.FinishReason;
                choice.StopReason = delta.StopReason ?? choice.StopReason;
            }
        }
        var list = new List<CompletionChoice>(choices.Length);
        var completionTokens = 0;
        for (var c = 0; c < choices.Length; c++)
        {
            var choice = choices[c];
            completionTokens += choice.Tokens;
            list.Add(new CompletionChoice
            {
                Index = c,
                Text = choice.Text.ToString(),
                Logprobs = requests[0].Params.Logprobs is null ? null : choice.Logprobs ?? new CompletionLogprobs(),
                FinishReason = choice.FinishReason,
                StopReason = choice.StopReason,
            });
        }
        var response = new CompletionResponse
        {
            Id = id,
            Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            Model = model.Name,
            Choices = list,
            Usage = ChatCompletions.Usage(promptTokens, completionTokens, cachedTokens, 0),
        };
        await context.Response.WriteAsJsonAsync(response, OpenAIJsonContext.Wire.CompletionResponse, cancellationToken: context.RequestAborted);
    }

    private async Task StreamAsync(
        HttpContext context, string id, EngineRequest[] requests, string[] echoTexts, LogprobFormatter formatter, bool includeUsage)
    {
        var n = requests[0].Params.N;
        var cancel = context.RequestAborted;
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var choices = new ChoiceState[requests.Length * n];
        for (var c = 0; c < choices.Length; c++)
        {
            choices[c] = new ChoiceState("");
        }
        var sse = Sse.Start(context.Response);
        int promptTokens = 0, cachedTokens = 0, completionTokens = 0;
        await foreach (var (p, output) in Merge(requests, cancel))
        {
            if (output.Finished)
            {
                promptTokens += output.PromptTokenCount;
                cachedTokens += output.CachedTokenCount;
            }
            foreach (var delta in output.Deltas)
            {
                var index = p * n + delta.Index;
                var choice = choices[index];
                var text = delta.Text;
                if (!choice.EchoSent)
                {
                    choice.EchoSent = true;
                    text = echoTexts[p] + text;
                }
                CompletionLogprobs? logprobs = null;
                if (delta.Logprobs is { Count: > 0 })
                {
                    logprobs = new CompletionLogprobs();
                    formatter.AppendCompletion(logprobs, delta.Logprobs, choice.Text.Length);
                }
                choice.Text.Append(text);
                choice.Tokens += delta.TokenIds.Length;
                completionTokens += delta.TokenIds.Length;
                if (text.Length == 0 && delta.FinishReason is null && logprobs is null)
                {
                    continue;
                }
                var chunk = new CompletionResponse
                {
                    Id = id,
                    Created = created,
                    Model = model.Name,
                    Choices =
                    [
                        new CompletionChoice
                        {
                            Index = index,
                            Text = text,
                            Logprobs = logprobs,
                            FinishReason = delta.FinishReason,
                            StopReason = delta.StopReason,
                        },
                    ],
                };
                await sse.WriteAsync(chunk, OpenAIJsonContext.Wire.CompletionResponse, cancel);
            }
        }
        if (includeUsage)
        {
            var usageChunk = new CompletionResponse
            {
                Id = id,
                Created = created,
                Model = model.Name,
                Choices = [],
                Usage = ChatCompletions.Usage(promptTokens, completionTokens, cachedTokens, 0),
            };
            await sse.WriteAsync(usageChunk, OpenAIJsonContext.Wire.CompletionResponse, cancel);
        }
        await sse.DoneAsync(cancel);
    }

    /// <summary>Runs every prompt's engine request at once and yields their outputs as they come, tagged with the prompt index.</summary>
    private async IAsyncEnumerable<(int Prompt, RequestOutput Output)> Merge(
        EngineRequest[] requests, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancel)
    {
        if (requests.Length == 1)
        {
            var timer = metrics.StartRequest();
            await foreach (var output in engine.GenerateAsync(requests[0], cancel))
            {
                timer.OnTokens(CountTokens(output));
                if (output.Finished)
                {
                    timer.OnFinished(output.Deltas.Count > 0 ? output.Deltas[^1].FinishReason ?? "stop" : "stop");
                }
                yield return (0, output);
            }
            yield break;
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var channel = Channel.CreateUnbounded<(int, RequestOutput)>(new UnboundedChannelOptions { SingleReader = true });
        var producers = new Task[requests.Length];
        for (var p = 0; p < requests.Length; p++)
        {
            producers[p] = Produce(p);
        }
        _ = Task.WhenAll(producers).ContinueWith(
            t => channel.Writer.TryComplete(t.Exception?.GetBaseException()), TaskScheduler.Default);
        try
        {
            await foreach (var item in channel.Reader.ReadAllAsync(linked.Token))
            {
                yield return item;
            }
        }
        finally
        {
            // A failed or abandoned stream aborts the sibling prompts' engine requests too.
            await linked.CancelAsync();
        }

        async Task Produce(int p)
        {
            var timer = metrics.StartRequest();
            await foreach (var output in engine.GenerateAsync(requests[p], linked.Token))
            {
                timer.OnTokens(CountTokens(output));
                if (output.Finished)
                {
                    timer.OnFinished(output.Deltas.Count > 0 ? output.Deltas[^1].FinishReason ?? "stop" : "stop");
                }
                await channel.Writer.WriteAsync((p, output), linked.Token);
            }
        }
    }

    private static int CountTokens(RequestOutput output)
    {
        var count = 0;
        foreach (var delta in output.Deltas)
        {
            count += delta.TokenIds.Length;
        }
        return count;
    }
}
