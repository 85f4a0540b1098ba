using System.Text;
using System.Text.Json;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>tokenizer.json's normalizer: NFC, or nothing (an empty Sequence, null).</summary>
internal sealed class Normalizer
{
    private readonly List<NormalizationForm> _forms = [];

    public static Normalizer FromJson(JsonElement element, string file)
    {
        var normalizer = new Normalizer();
        normalizer.Add(element, file);
        return normalizer;
    }

    public string Apply(string text)
    {
        foreach (NormalizationForm form in _forms)
        {
            text = text.Normalize(form);
        }
        return text;
    }

    private void Add(JsonElement element, string file)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return;
        }
        string type = element.GetProperty("type").GetString() ?? "";
        switch (type)
        {
            case "Sequence":
                foreach (JsonElement child in element.GetProperty("normalizers").EnumerateArray())
                {
                    Add(child, file);
                }
                break;
            case "NFC":
                _forms.Add(NormalizationForm.FormC);
                break;
            case "NFKC":
                _forms.Add(NormalizationForm.FormKC);
                break;
            default:
                throw new InvalidDataException($"{file}: normalizer type {type} is not supported.");
        }
    }
}
