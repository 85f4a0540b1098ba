namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// GPT-2's byte-level alphabet: every byte gets a printable character, so BPE vocabularies are plain strings.
/// Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100 upwards, in byte order.
/// </summary>
internal static class ByteLevel
{
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>Inverse of <see cref="ByteToChar"/>; -1 for characters outside the alphabet.</summary>
    private static readonly short[] CharToByte = BuildCharToByte();

    /// <summary>Maps UTF-8 bytes to their alphabet characters.</summary>
    public static string Encode(ReadOnlySpan<byte> utf8)
    {
        return string.Create(utf8.Length, utf8.ToArray(), static (chars, bytes) =>
        {
            for (int i = 0; i < bytes.Length; i++)
            {
                chars[i] = ByteToChar[bytes[i]];
            }
        });
    }

    /// <summary>
    /// The bytes a vocabulary string stands for. A string with a character outside the alphabet (an added token such as
    /// DeepSeek's full-width "<｜User｜>") stands for its own UTF-8 bytes, as the ByteLevel decoder treats it.
    /// </summary>
    public static byte[] Decode(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            char c = token[i];
            int b = c < CharToByte.Length ? CharToByte[c] : -1;
            if (b < 0)
            {
                return System.Text.Encoding.UTF8.GetBytes(token);
            }
            bytes[i] = (byte)b;
        }
        return bytes;
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var inverse = new short[512];
        Array.Fill(inverse, (short)-1);
        for (int b = 0; b < 256; b++)
        {
            inverse[ByteToChar[b]] = (short)b;
        }
        return inverse;
    }
}
