using ReasoningServe.Inference.Serving.Api;
using ReasoningServe.Inference.Serving.Errors;

namespace ReasoningServe.Inference.Serving;

/// <summary>POST /tokenize and POST /detokenize, vLLM's helpers for counting and inspecting tokens.</summary>
internal static class TokenizeEndpoints
{
    public static async Task TokenizeAsync(HttpContext context, ServedModel model)
    {
        var request = await RequestBody.ReadAsync(context, OpenAIJsonContext.Wire.TokenizeRequest);
        model.EnsureServes(request.Model);
        int[] tokens;
        if (request.Messages is not null)
        {
            tokens = ChatPrompt.Render(model, request.Messages, request.ChatTemplateKwargs,
                request.AddGenerationPrompt ?? true, request.ContinueFinalMessage ?? false, null,
                addSpecialTokens: request.AddSpecialTokens ?? false).TokenIds;
        }
        else if (request.Prompt is not null)
        {
            tokens = model.Tokenizer.Encode(request.Prompt, request.AddSpecialTokens ?? true);
        }
        else
        {
            throw OpenAIException.BadRequest("Either 'prompt' or 'messages' is required.", "prompt");
        }
        List<string?>? strings = null;
        if (request.ReturnTokenStrs == true)
        {
            strings = new List<string?>(tokens.Length);
            foreach (var id in tokens)
            {
                strings.Add(model.Tokenizer.IdToToken(id));
            }
        }
        var response = new TokenizeResponse { Count = tokens.Length, MaxModelLen = model.MaxModelLen, Tokens = tokens, TokenStrs = strings };
        await context.Response.WriteAsJsonAsync(response, OpenAIJsonContext.Wire.TokenizeResponse, cancellationToken: context.RequestAborted);
    }

    public static async Task DetokenizeAsync(HttpContext context, ServedModel model)
    {
        var request = await RequestBody.ReadAsync(context, OpenAIJsonContext.Wire.DetokenizeRequest);
        model.EnsureServes(request.Model);
        var tokens = request.Tokens?.ToArray() ?? throw OpenAIException.BadRequest("'tokens' is required.", "tokens");
        SamplingParamsFactory.CheckTokenIds(tokens, model, "tokens");
        var response = new DetokenizeResponse { Prompt = model.Tokenizer.Decode(tokens) };
        await context.Response.WriteAsJsonAsync(response, OpenAIJsonContext.Wire.DetokenizeResponse, cancellationToken: context.RequestAborted);
    }
}
