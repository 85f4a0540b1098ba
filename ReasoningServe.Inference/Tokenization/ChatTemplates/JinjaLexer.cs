using System.Globalization;
using System.Text;

namespace ReasoningServe.Inference.Tokenization.ChatTemplates;

internal enum TokenKind
{
    Data,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    Eof,
}

internal readonly record struct JinjaToken(TokenKind Kind, string Value, int Line, object? Literal = null);

/// <summary>
/// Splits a template into tokens the way Jinja2 does with the environment Hugging Face uses
/// (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False): whitespace control is resolved here,
/// so the parser only sees the data that will really be printed.
/// </summary>
internal sealed class JinjaLexer
{
    private static readonly string[] Operators =
    [
        "**", "//", "==", "!=", "<=", ">=",
        "+", "-", "*", "/", "%", "~", "[", "]", "(", ")", "{", "}", "<", ">", "=", ".", ":", "|", ",", ";",
    ];

    private readonly string _src;
    private readonly List<JinjaToken> _tokens = [];
    private int _pos;
    private int _line = 1;
    private bool _lineStarting = true;

    private JinjaLexer(string source) => _src = NormalizeSource(source);

    public static List<JinjaToken> Tokenize(string source)
    {
        var lexer = new JinjaLexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    /// <summary>Jinja normalizes every newline to \n and drops one trailing newline before lexing.</summary>
    private static string NormalizeSource(string source)
    {
        string s = source.Contains('\r') ? source.Replace("\r\n", "\n").Replace('\r', '\n') : source;
        return s.EndsWith('\n') ? s[..^1] : s;
    }

    private void Run()
    {
        while (_pos < _src.Length)
        {
            int tag = FindTagStart(_pos);
            if (tag < 0)
            {
                Emit(TokenKind.Data, _src[_pos..]);
                break;
            }

            char kind = _src[tag + 1];
            char sign = tag + 2 < _src.Length && _src[tag + 2] is '-' or '+' ? _src[tag + 2] : '\0';
            string data = _src[_pos..tag];
            if (sign == '-')
            {
                data = data.TrimEnd();
            }
            else if (sign != '+' && kind != '{')
            {
                data = LStripBlock(data);
            }

            if (data.Length > 0)
            {
                Emit(TokenKind.Data, data);
            }

            _line += CountNewlines(_pos, tag);
            _pos = tag + 2 + (sign != '\0' ? 1 : 0);
            switch (kind)
            {
                case '#':
                    LexComment();
                    break;
                case '%' when TryLexRaw():
                    break;
                case '%':
                    Emit(TokenKind.BlockBegin, "{%");
                    LexTagBody(isBlock: true);
                    break;
                default:
                    Emit(TokenKind.VariableBegin, "{{");
                    LexTagBody(isBlock: false);
                    break;
            }
        }

        _tokens.Add(new JinjaToken(TokenKind.Eof, "", _line));
    }

    private int FindTagStart(int from)
    {
        int i = from;
        while (true)
        {
            i = _src.IndexOf('{', i);
            if (i < 0 || i + 1 >= _src.Length)
            {
                return -1;
            }

            if (_src[i + 1] is '{' or '%' or '#')
            {
                return i;
            }

            i++;
        }
    }

    /// <summary>lstrip_blocks: whitespace between the start of a line and a block or comment tag is dropped.</summary>
    private string LStripBlock(string data)
    {
        int lineStart = data.LastIndexOf('\n') + 1;
        if (lineStart == 0 && !_lineStarting)
        {
            return data;
        }

        if (lineStart == data.Length)
        {
            return data;
        }

        for (int i = lineStart; i < data.Length; i++)
        {
            if (!char.IsWhiteSpace(data[i]))
            {
                return data;
            }
        }

        return data[..lineStart];
    }

    private void LexComment()
    {
        int end = _src.IndexOf("#}", _pos, StringComparison.Ordinal);
        if (end < 0)
        {
            throw Error("missing end of comment tag");
        }

        char sign = _src[end - 1];
        _line += CountNewlines(_pos, end);
        _pos = end + 2;
        AfterTagEnd(sign, trimNewline: true);
    }

    /// <summary>{% raw %}...{% endraw %} prints its body verbatim.</summary>
    private bool TryLexRaw()
    {
        int p = SkipWhitespace(_pos);
        if (string.CompareOrdinal(_src, p, "raw", 0, 3) != 0)
        {
            return false;
        }

        p = SkipWhitespace(p + 3);
        if (p < _src.Length && _src[p] == '-')
        {
            p++;
        }

        if (string.CompareOrdinal(_src, p, "%}", 0, 2) != 0)
        {
            return false;
        }

        bool stripAfterBegin = _src[p - 1] == '-';
        int bodyStart = p + 2;
        if (stripAfterBegin)
        {
            bodyStart = SkipWhitespace(bodyStart);
        }

        int search = bodyStart;
        while (true)
        {
            int tag = _src.IndexOf("{%", search, StringComparison.Ordinal);
            if (tag < 0)
            {
                throw Error("missing end of raw directive");
            }

            int q = tag + 2;
            char sign = q < _src.Length && _src[q] is '-' or '+' ? _src[q] : '\0';
            if (sign != '\0')
            {
                q++;
            }

            q = SkipWhitespace(q);
            if (string.CompareOrdinal(_src, q, "endraw", 0, 6) != 0)
            {
                search = tag + 2;
                continue;
            }

            q = SkipWhitespace(q + 6);
            char endSign = '\0';
            if (q < _src.Length && _src[q] is '-' or '+')
            {
                endSign = _src[q];
                q++;
            }

            if (string.CompareOrdinal(_src, q, "%}", 0, 2) != 0)
            {
                throw Error("invalid endraw tag");
            }

            string body = _src[bodyStart..tag];
            if (sign == '-')
            {
                body = body.TrimEnd();
            }

            if (body.Length > 0)
            {
                Emit(TokenKind.Data, body);
            }

            _line += CountNewlines(_pos, q);
            _pos = q + 2;
            AfterTagEnd(endSign, trimNewline: true);
            return true;
        }
    }

    private void LexTagBody(bool isBlock)
    {
        var balance = new Stack<char>();
        while (true)
        {
            _pos = SkipWhitespaceCountingLines(_pos);
            if (_pos >= _src.Length)
            {
                throw Error(isBlock ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'");
            }

            if (balance.Count == 0 && TryLexTagEnd(isBlock))
            {
                return;
            }

            char c = _src[_pos];
            if (char.IsAsciiLetter(c) || c == '_')
            {
                int start = _pos;
                while (_pos < _src.Length && (char.IsAsciiLetterOrDigit(_src[_pos]) || _src[_pos] == '_'))
                {
                    _pos++;
                }

                Emit(TokenKind.Name, _src[start.._pos]);
            }
            else if (char.IsAsciiDigit(c))
            {
                LexNumber();
            }
            else if (c is '\'' or '"')
            {
                LexString(c);
            }
            else
            {
                LexOperator(balance);
            }
        }
    }

    private bool TryLexTagEnd(bool isBlock)
    {
        char close = isBlock ? '%' : '}';
        int p = _pos;
        char sign = '\0';
        if (_src[p] is '-' or '+' && p + 2 < _src.Length && _src[p + 1] == close && _src[p + 2] == '}')
        {
            sign = _src[p];
            p++;
        }

        if (p + 1 >= _src.Length || _src[p] != close || _src[p + 1] != '}')
        {
            return false;
        }

        Emit(isBlock ? TokenKind.BlockEnd : TokenKind.VariableEnd, isBlock ? "%}" : "}}");
        _pos = p + 2;
        AfterTagEnd(sign, trimNewline: isBlock);
        return true;
    }

    /// <summary>'-' strips all following whitespace; otherwise trim_blocks eats one newline after block and comment tags.</summary>
    private void AfterTagEnd(char sign, bool trimNewline)
    {
        _lineStarting = false;
        if (sign == '-')
        {
            int start = _pos;
            _pos = SkipWhitespace(_pos);
            _line += CountNewlines(start, _pos);
            _lineStarting = _pos > start && _src[_pos - 1] == '\n';
        }
        else if (sign != '+' && trimNewline && _pos < _src.Length && _src[_pos] == '\n')
        {
            _pos++;
            _line++;
            _lineStarting = true;
        }
    }

    private void LexNumber()
    {
        int start = _pos;
        while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || _src[_pos] == '_'))
        {
            _pos++;
        }

        bool isFloat = false;
        if (_pos + 1 < _src.Length && _src[_pos] == '.' && char.IsAsciiDigit(_src[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || _src[_pos] == '_'))
            {
                _pos++;
            }
        }

        if (_pos < _src.Length && _src[_pos] is 'e' or 'E')
        {
            int p = _pos + 1;
            if (p < _src.Length && _src[p] is '+' or '-')
            {
                p++;
            }

            if (p < _src.Length && char.IsAsciiDigit(_src[p]))
            {
                isFloat = true;
                _pos = p;
                while (_pos < _src.Length && char.IsAsciiDigit(_src[_pos]))
                {
                    _pos++;
                }
            }
        }

        string text = _src[start.._pos].Replace("_", "");
        if (isFloat)
        {
            Emit(TokenKind.Float, text, double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture));
        }
        else
        {
            Emit(TokenKind.Integer, text, long.Parse(text, CultureInfo.InvariantCulture));
        }
    }

    /// <summary>String literals decode Python escapes (\n, \t, \xNN, \uNNNN, octal); unknown escapes keep their backslash.</summary>
    private void LexString(char quote)
    {
        int start = _pos;
        var sb = new StringBuilder();
        _pos++;
        while (true)
        {
            if (_pos >= _src.Length)
            {
                throw Error("unexpected end of string");
            }

            char c = _src[_pos];
            if (c == quote)
            {
                _pos++;
                break;
            }

            if (c != '\\' || _pos + 1 >= _src.Length)
            {
                sb.Append(c);
                _pos++;
                continue;
            }

            char e = _src[_pos + 1];
            _pos += 2;
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\n': break;
                case 'x': AppendHexEscape(sb, 2); break;
                case 'u': AppendHexEscape(sb, 4); break;
                case 'U': AppendHexEscape(sb, 8); break;
                case >= '0' and <= '7':
                    int value = e - '0';
                    for (int k = 0; k < 2 && _pos < _src.Length && _src[_pos] is >= '0' and <= '7'; k++)
                    {
                        value = (value * 8) + (_src[_pos++] - '0');
                    }

                    sb.Append((char)value);
                    break;
                default:
                    sb.Append('\\').Append(e);
                    break;
            }
        }

        _line += CountNewlines(start, _pos);
        Emit(TokenKind.String, sb.ToString());
    }

    private void AppendHexEscape(StringBuilder sb, int digits)
    {
        if (_pos + digits > _src.Length
            || !int.TryParse(_src.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code))
        {
            throw Error("truncated \\x, \\u or \\U escape in string literal");
        }

        _pos += digits;
        if (code is >= 0xD800 and <= 0xDFFF or < 0x10000)
        {
            sb.Append((char)code);
        }
        else
        {
            sb.Append(char.ConvertFromUtf32(code));
        }
    }

    private void LexOperator(Stack<char> balance)
    {
        foreach (string op in Operators)
        {
            if (string.CompareOrdinal(_src, _pos, op, 0, op.Length) != 0)
            {
                continue;
            }

            switch (op)
            {
                case "(" or "[" or "{":
                    balance.Push(op[0]);
                    break;
                case ")" or "]" or "}":
                    char open = op == ")" ? '(' : op == "]" ? '[' : '{';
                    if (balance.Count == 0 || balance.Pop() != open)
                    {
                        throw Error($"unexpected '{op}'");
                    }

                    break;
            }

            Emit(TokenKind.Operator, op);
            _pos += op.Length;
            return;
        }

        throw Error($"unexpected char '{_src[_pos]}'");
    }

    private int SkipWhitespace(int p)
    {
        while (p < _src.Length && char.IsWhiteSpace(_src[p]))
        {
            p++;
        }

        return p;
    }

    private int SkipWhitespaceCountingLines(int p)
    {
        int end = SkipWhitespace(p);
        _line += CountNewlines(p, end);
        return end;
    }

    private int CountNewlines(int from, int to)
    {
        int n = 0;
        for (int i = from; i < to; i++)
        {
            if (_src[i] == '\n')
            {
                n++;
            }
        }

        return n;
    }

    private void Emit(TokenKind kind, string value, object? literal = null) => _tokens.Add(new JinjaToken(kind, value, _line, literal));

    private ChatTemplateException Error(string message) => new($"template syntax error (line {_line}): {message}");
}
