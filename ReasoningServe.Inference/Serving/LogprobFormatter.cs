using System.Globalization;
using System.Text;
using ReasoningServe.Inference.Engine;
using ReasoningServe.Inference.Serving.Api;
using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Inference.Serving;

/// <summary>Engine logprobs → the chat and legacy completion wire shapes; tokens as text, or "token_id:N" on request.</summary>
internal sealed class LogprobFormatter(Tokenizer tokenizer, bool tokensAsIds)
{
    public string Token(int id) =>
        tokensAsIds ? "token_id:" + id.ToString(CultureInfo.InvariantCulture) : tokenizer.Decode([id]);

    public void AppendChat(List<ChatLogprob> into, IReadOnlyList<TokenLogprob> logprobs)
    {
        foreach (var lp in logprobs)
        {
            var top = new List<ChatTopLogprob>(lp.Top.Count);
            foreach (var alt in lp.Top)
            {
                var altToken = Token(alt.TokenId);
                top.Add(new ChatTopLogprob { Token = altToken, Logprob = alt.Logprob, Bytes = Encoding.UTF8.GetBytes(altToken) });
            }
            var token = Token(lp.TokenId);
            into.Add(new ChatLogprob { Token = token, Logprob = lp.Logprob, Bytes = Encoding.UTF8.GetBytes(token), TopLogprobs = top });
        }
    }

    /// <summary>Appends tokens to the parallel arrays; <paramref name="textOffset"/> is the choice text's length so far.</summary>
    public void AppendCompletion(CompletionLogprobs into, IReadOnlyList<TokenLogprob> logprobs, int textOffset)
    {
        foreach (var lp in logprobs)
        {
            var token = Token(lp.TokenId);
            into.Tokens.Add(token);
            into.TokenLogprobs.Add(lp.Logprob);
            into.TextOffset.Add(textOffset);
            textOffset += token.Length;
            var top = new Dictionary<string, float>(lp.Top.Count + 1, StringComparer.Ordinal);
            foreach (var alt in lp.Top)
            {
                top.TryAdd(Token(alt.TokenId), alt.Logprob);
            }
            top.TryAdd(token, lp.Logprob);
            into.TopLogprobs.Add(top);
        }
    }
}
