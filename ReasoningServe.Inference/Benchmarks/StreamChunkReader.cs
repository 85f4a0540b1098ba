using System.Text;
using System.Text.Json;

namespace ReasoningServe.Inference.Benchmarks;

internal enum ChunkKind
{
    /// <summary>A chunk without generated text: the chat role chunk, the usage chunk, an empty delta.</summary>
    Other,
    /// <summary>A chunk that carried text, content or reasoning: one TTFT/ITL timestamp.</summary>
    Tokens,
    Done,
    Error,
}

/// <summary>
/// Reads the SSE data of one streamed completion or chat completion, chunk by chunk, straight from the UTF-8 bytes: the
/// text (completions' choices[].text, chat's delta.content) and reasoning (delta.reasoning_content, or vLLM's newer
/// delta.reasoning; one of them when a server sends both) are appended without a string per chunk, and the usage
/// chunk's token counts kept. One instance per request.
/// </summary>
internal sealed class StreamChunkReader
{
    private char[] _scratch = new char[256];

    public StringBuilder Content { get; } = new();
    public StringBuilder Reasoning { get; } = new();
    public int? PromptTokens { get; private set; }
    public int? CompletionTokens { get; private set; }
    public int? ReasoningTokens { get; private set; }
    public string? Error { get; private set; }

    public ChunkKind Read(string eventType, ReadOnlySpan<byte> data)
    {
        if (data.SequenceEqual("[DONE]"u8))
        {
            return ChunkKind.Done;
        }
        try
        {
            var reader = new Utf8JsonReader(data);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return Fail($"a stream chunk is not a JSON object: {Encoding.UTF8.GetString(data[..Math.Min(data.Length, 200)])}");
            }
            bool tokens = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("choices"u8))
                {
                    reader.Read();
                    tokens |= ReadChoices(ref reader);
                }
                else if (reader.ValueTextEquals("usage"u8))
                {
                    reader.Read();
                    ReadUsage(ref reader);
                }
                else if (reader.ValueTextEquals("error"u8))
                {
                    return Fail("error in stream: " + Encoding.UTF8.GetString(data));
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
            return tokens ? ChunkKind.Tokens : ChunkKind.Other;
        }
        catch (JsonException e)
        {
            return Fail($"a stream chunk is not valid JSON ({e.Message})");
        }
    }

    private ChunkKind Fail(string message)
    {
        Error ??= message;
        return ChunkKind.Error;
    }

    private bool ReadChoices(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return false;
        }
        bool tokens = false;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("text"u8))
                {
                    reader.Read();
                    tokens |= Append(ref reader, Content);
                }
                else if (reader.ValueTextEquals("delta"u8))
                {
                    reader.Read();
                    tokens |= ReadDelta(ref reader);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        return tokens;
    }

    private bool ReadDelta(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return false;
        }
        bool tokens = false, sawReasoningContent = false, sawReasoning = false;
        int mark = Reasoning.Length;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("content"u8))
            {
                reader.Read();
                tokens |= Append(ref reader, Content);
            }
            else if (reader.ValueTextEquals("reasoning_content"u8))
            {
                reader.Read();
                if (sawReasoning)
                {
                    Reasoning.Length = mark; // the same text under the other name came first
                }
                sawReasoningContent = true;
                tokens |= Append(ref reader, Reasoning);
            }
            else if (reader.ValueTextEquals("reasoning"u8) && !sawReasoningContent)
            {
                reader.Read();
                sawReasoning = true;
                tokens |= Append(ref reader, Reasoning);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        return tokens;
    }

    private void ReadUsage(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return;
        }
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("prompt_tokens"u8))
            {
                reader.Read();
                PromptTokens = Int(ref reader) ?? PromptTokens;
            }
            else if (reader.ValueTextEquals("completion_tokens"u8))
            {
                reader.Read();
                CompletionTokens = Int(ref reader) ?? CompletionTokens;
            }
            else if (reader.ValueTextEquals("completion_tokens_details"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    bool isReasoning = reader.ValueTextEquals("reasoning_tokens"u8);
                    reader.Read();
                    if (isReasoning)
                    {
                        ReasoningTokens = Int(ref reader) ?? ReasoningTokens;
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    private static int? Int(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out int n) ? n : null;

    /// <summary>Appends a JSON string's characters (unescaped) to <paramref name="target"/>; true when it was not empty.</summary>
    private bool Append(ref Utf8JsonReader reader, StringBuilder target)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            reader.Skip();
            return false;
        }
        // Unescaped text never has more UTF-16 units than its UTF-8 bytes.
        int max = reader.HasValueSequence ? checked((int)reader.ValueSequence.Length) : reader.ValueSpan.Length;
        if (max == 0)
        {
            return false;
        }
        if (_scratch.Length < max)
        {
            _scratch = new char[Math.Max(max, 2 * _scratch.Length)];
        }
        int written = reader.CopyString(_scratch);
        target.Append(_scratch, 0, written);
        return written > 0;
    }
}
