using System.Globalization;
using System.Text.Json;
using ReasoningServe.Inference.Engine;
using ReasoningServe.Inference.Serving.Api;
using ReasoningServe.Inference.Serving.Errors;

namespace ReasoningServe.Inference.Serving;

/// <summary>
/// Validates a request's sampling fields (400 with the field as param) and turns them into <see cref="SamplingParams"/>:
/// the request's value, else generation_config.json's, else OpenAI's default.
/// </summary>
internal static class SamplingParamsFactory
{
    public const int MaxLogprobs = 20;

    /// <param name="requestedMaxTokens">max_tokens (or chat's max_completion_tokens); null: what the context leaves.</param>
    /// <param name="logprobs">Top alternatives per token, null when logprobs were not asked for.</param>
    public static SamplingParams Create(
        SamplingRequest request, ServedModel model, int promptTokens, int? requestedMaxTokens, int? logprobs)
    {
        var defaults = model.Defaults;
        var n = request.N ?? 1;
        Check(n >= 1, "n must be at least 1, got " + n + ".", "n");
        var temperature = request.Temperature ?? defaults.Temperature ?? 1.0;
        // Finite as the float the sampler divides by: 1e300 would be infinite, and a masked logit over it NaN.
        Check(temperature >= 0 && (float)temperature < float.PositiveInfinity, $"temperature must be non-negative and finite, got {temperature}.",
            "temperature");
        var topP = request.TopP ?? defaults.TopP ?? 1.0;
        Check(topP is > 0 and <= 1, $"top_p must be in (0, 1], got {topP}.", "top_p");
        var topK = request.TopK ?? defaults.TopK ?? 0;
        Check(topK >= -1, $"top_k must be -1 (disable), 0 (disable) or at least 1, got {topK}.", "top_k");
        var minP = request.MinP ?? defaults.MinP ?? 0;
        Check(minP is >= 0 and <= 1, $"min_p must be in [0, 1], got {minP}.", "min_p");
        var presence = request.PresencePenalty ?? 0;
        Check(presence is >= -2 and <= 2, $"presence_penalty must be in [-2, 2], got {presence}.", "presence_penalty");
        var frequency = request.FrequencyPenalty ?? 0;
        Check(frequency is >= -2 and <= 2, $"frequency_penalty must be in [-2, 2], got {frequency}.", "frequency_penalty");
        var repetition = request.RepetitionPenalty ?? defaults.RepetitionPenalty ?? 1.0;
        // As a float, as the sampler divides by it: 1e-50 would be 0, and 1e50 infinite.
        Check((float)repetition is > 0 and < float.PositiveInfinity, $"repetition_penalty must be greater than zero and finite, got {repetition}.",
            "repetition_penalty");
        Check(requestedMaxTokens is null or >= 1, $"max_tokens must be at least 1, got {requestedMaxTokens}.", "max_tokens");
        var minTokens = request.MinTokens ?? 0;
        Check(minTokens >= 0, $"min_tokens must be non-negative, got {minTokens}.", "min_tokens");
        Check(logprobs is null or (>= 0 and <= MaxLogprobs),
            $"logprobs must be between 0 and {MaxLogprobs}, got {logprobs}.", "logprobs");
        Check(request.StreamOptions is null || request.Stream == true,
            "Stream options can only be defined when `stream=True`.", "stream_options");

        var maxTokens = ResolveMaxTokens(model, promptTokens, requestedMaxTokens);
        Check(minTokens <= maxTokens, $"min_tokens ({minTokens}) must not exceed max_tokens ({maxTokens}).", "min_tokens");
        var vocab = model.Tokenizer.VocabSize;
        var stopTokenIds = request.StopTokenIds ?? [];
        foreach (var id in stopTokenIds)
        {
            Check(id >= 0 && id < vocab, $"stop_token_ids: token id {id} is out of vocabulary (size {vocab}).", "stop_token_ids");
        }

        return new SamplingParams
        {
            N = n,
            Temperature = (float)temperature,
            TopP = (float)topP,
            TopK = topK,
            MinP = (float)minP,
            Seed = request.Seed ?? model.DefaultSeed,
            PresencePenalty = (float)presence,
            FrequencyPenalty = (float)frequency,
            RepetitionPenalty = (float)repetition,
            LogitBias = LogitBias(request.LogitBias, vocab),
            Stop = Stop(request.Stop),
            StopTokenIds = stopTokenIds,
            IncludeStopStrInOutput = request.IncludeStopStrInOutput ?? false,
            IgnoreEos = request.IgnoreEos ?? false,
            MaxTokens = maxTokens,
            MinTokens = minTokens,
            Logprobs = logprobs,
            SkipSpecialTokens = request.SkipSpecialTokens ?? true,
            SpacesBetweenSpecialTokens = request.SpacesBetweenSpecialTokens ?? true,
        };
    }

    /// <summary>Refuses prompts that leave no room and max_tokens that overrun the context, with vLLM's numbers.</summary>
    public static int ResolveMaxTokens(ServedModel model, int promptTokens, int? requested)
    {
        var maxLen = model.MaxModelLen;
        if (promptTokens >= maxLen)
        {
            throw OpenAIException.BadRequest(
                $"This model's maximum context length is {maxLen} tokens. However, your request has {promptTokens} " +
                "input tokens. Please reduce the length of the input messages.", "messages");
        }
        if (requested is int max && promptTokens + max > maxLen)
        {
            throw OpenAIException.BadRequest(
                $"'max_tokens' or 'max_completion_tokens' is too large: {max}. This model's maximum context length is " +
                $"{maxLen} tokens and your request has {promptTokens} input tokens ({max} > {maxLen} - {promptTokens}).",
                "max_tokens");
        }
        return requested ?? Math.Min(maxLen - promptTokens, model.Defaults.MaxNewTokens ?? int.MaxValue);
    }

    public static void CheckTokenIds(ReadOnlySpan<int> ids, ServedModel model, string param)
    {
        var vocab = model.Tokenizer.VocabSize;
        foreach (var id in ids)
        {
            Check(id >= 0 && id < vocab, $"Token id {id} is out of vocabulary (vocabulary size {vocab}).", param);
        }
    }

    private static List<string> Stop(JsonElement? stop)
    {
        if (stop is not { } s || s.ValueKind == JsonValueKind.Null)
        {
            return [];
        }
        if (s.ValueKind == JsonValueKind.String)
        {
            return [s.GetString()!];
        }
        Check(s.ValueKind == JsonValueKind.Array, "stop must be a string or a list of strings.", "stop");
        var list = new List<string>();
        foreach (var item in s.EnumerateArray())
        {
            Check(item.ValueKind == JsonValueKind.String, "stop must be a string or a list of strings.", "stop");
            list.Add(item.GetString()!);
        }
        return list;
    }

    private static Dictionary<int, float>? LogitBias(Dictionary<string, double>? bias, int vocab)
    {
        if (bias is null || bias.Count == 0)
        {
            return null;
        }
        var result = new Dictionary<int, float>(bias.Count);
        foreach (var (key, value) in bias)
        {
            Check(int.TryParse(key, NumberStyles.Integer, CultureInfo.InvariantCulture, out var id) && id >= 0 && id < vocab,
                $"logit_bias: '{key}' is not a token id in the vocabulary (size {vocab}).", "logit_bias");
            result[id] = (float)Math.Clamp(value, -100, 100);
        }
        return result;
    }

    private static void Check(bool condition, string message, string param)
    {
        if (!condition)
        {
            throw OpenAIException.BadRequest(message, param);
        }
    }
}
