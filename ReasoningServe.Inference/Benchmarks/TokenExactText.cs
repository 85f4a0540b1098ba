using ReasoningServe.Inference.Tokenization;

namespace ReasoningServe.Inference.Benchmarks;

/// <summary>
/// Random prompts whose text re-encodes to exactly the asked number of tokens. Decoding arbitrary ids and encoding the
/// text again rarely gives the same ids (BPE re-merges across token boundaries, partial UTF-8 becomes U+FFFD), so the
/// re-encoded ids are cut back or padded with random ordinary ids and decoded again, until the text is a fixed point of
/// the tokenizer at the target length. Only ordinary vocabulary (no added or special token) is used, so no prompt
/// contains a chat-template or end-of-sequence marker.
/// </summary>
internal sealed class TokenExactText(Tokenizer tokenizer, Random rng)
{
    private const int MaxRounds = 16;

    private readonly int[] _ordinary = Ordinary(tokenizer);

    public int OrdinaryCount => _ordinary.Length;

    /// <summary>Prompts whose ids had to be sent differently from their text's encoding (none in practice; counted for the report).</summary>
    public int Mismatches { get; private set; }

    public int[] RandomIds(int count)
    {
        var ids = new int[count];
        for (int i = 0; i < count; i++)
        {
            ids[i] = _ordinary[rng.Next(_ordinary.Length)];
        }
        return ids;
    }

    /// <summary>vLLM's random sequence: ordinary ids start, start+1, … (wrapping), so prompts differ by their start.</summary>
    public int[] ConsecutiveIds(int start, int count)
    {
        var ids = new int[count];
        for (int i = 0; i < count; i++)
        {
            ids[i] = _ordinary[(start + i) % _ordinary.Length];
        }
        return ids;
    }

    /// <summary>Text of exactly <paramref name="target"/> tokens that starts from <paramref name="seed"/>, and its ids.</summary>
    public (int[] Ids, string Text) Make(int[] seed, int target)
    {
        int[] ids = seed;
        for (int round = 0; round < MaxRounds; round++)
        {
            string text = tokenizer.Decode(ids);
            int[] encoded = tokenizer.Encode(text);
            if (encoded.Length == target)
            {
                return (encoded, text);
            }
            ids = encoded.Length > target ? encoded[..target] : [.. encoded, .. RandomIds(target - encoded.Length)];
        }
        // Not settled (never seen): send the ids, which have the right length, with the text they decode to.
        Mismatches++;
        return (ids, tokenizer.Decode(ids));
    }

    /// <summary>
    /// The shared prefix followed by a token-exact part of <paramref name="length"/> tokens. The ids keep the prefix's ids
    /// exactly (what prefix caching keys on); when the joined text would merge across the boundary, the part is redrawn.
    /// </summary>
    public (int[] Ids, string Text) After(int[] prefix, string prefixText, int[] seed, int length)
    {
        (int[] part, string partText) = Make(seed, length);
        if (prefix.Length == 0)
        {
            return (part, partText);
        }
        int[] ids = [.. prefix, .. part];
        for (int round = 0; round < MaxRounds; round++)
        {
            if (tokenizer.Encode(prefixText + partText).AsSpan().SequenceEqual(ids))
            {
                return (ids, prefixText + partText);
            }
            (part, partText) = Make([.. RandomIds(1), .. part[1..]], length);
            ids = [.. prefix, .. part];
        }
        Mismatches++;
        return (ids, prefixText + partText);
    }

    private static int[] Ordinary(Tokenizer tokenizer)
    {
        var ids = new List<int>(tokenizer.VocabSize);
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            if (!tokenizer.IsAdded(id) && !tokenizer.IsSpecial(id) && tokenizer.IdToToken(id) is not null)
            {
                ids.Add(id);
            }
        }
        return [.. ids];
    }
}
