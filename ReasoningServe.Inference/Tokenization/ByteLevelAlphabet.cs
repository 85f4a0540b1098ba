namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// GPT-2's byte-to-unicode table used by byte-level BPE: every byte gets a printable character so that vocabulary
/// entries are plain strings (space becomes 'Ġ', newline 'Ċ'). Printable Latin-1 bytes map to themselves; the other
/// 68 bytes map, in byte order, to U+0100 onwards.
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>One past the largest character the table produces (U+0143).</summary>
    private const int CharLimit = 0x144;

    private static readonly char[] s_byteToChar = BuildByteToChar();
    private static readonly short[] s_charToByte = BuildCharToByte(s_byteToChar);

    public static char ToChar(byte b) => s_byteToChar[b];

    /// <summary>The byte a byte-level character stands for, or -1 when the character is not in the alphabet.</summary>
    public static int ToByte(char c) => c < CharLimit ? s_charToByte[c] : -1;

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)(256 + extra++);
        }
        return table;
    }

    private static short[] BuildCharToByte(char[] byteToChar)
    {
        var table = new short[CharLimit];
        Array.Fill(table, (short)-1);
        for (int b = 0; b < 256; b++)
        {
            table[byteToChar[b]] = (short)b;
        }
        return table;
    }
}
