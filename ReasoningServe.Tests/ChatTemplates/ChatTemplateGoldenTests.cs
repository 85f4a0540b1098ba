using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using ReasoningServe.Inference.Tokenization.ChatTemplates;

namespace ReasoningServe.Tests.ChatTemplates;

/// <summary>
/// testdata/goldens/chat_templates/*.json hold apply_chat_template(tokenize=False) outputs from Hugging Face transformers;
/// ChatTemplateRenderer must reproduce each text exactly (or fail where transformers failed).
/// </summary>
public sealed partial class ChatTemplateGoldenTests
{
    private const string GoldenDir = "testdata/goldens/chat_templates";

    public static TheoryData<string, string> Cases
    {
        get
        {
            var data = new TheoryData<string, string>();
            string dir = ChatTemplateTestData.PathOf(GoldenDir);
            if (Directory.Exists(dir))
            {
                foreach (string file in Directory.GetFiles(dir, "*.json").Order(StringComparer.Ordinal))
                {
                    using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(file));
                    foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
                    {
                        data.Add(Path.GetFileName(file), c.GetProperty("name").GetString()!);
                    }
                }
            }

            if (data.Count == 0)
            {
                data.Add("", "");
            }

            return data;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Renders_like_transformers_apply_chat_template(string file, string caseName)
    {
        Skip.If(file.Length == 0, $"no goldens in {GoldenDir}; the lead generates them with tools/goldens/make_goldens.py");
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(ChatTemplateTestData.PathOf(Path.Combine(GoldenDir, file))));
        JsonElement c = ChatTemplateTestData.FindCase(doc.RootElement.GetProperty("cases"), caseName);
        string source = c.GetProperty("template").GetString()!;

        if (c.TryGetProperty("error", out JsonElement hfError))
        {
            Assert.Throws<ChatTemplateException>(() => ChatTemplateTestData.RenderCase(new ChatTemplate(source), c));
            Assert.False(string.IsNullOrEmpty(hfError.GetString()));
            return;
        }

        string expected = c.GetProperty("text").GetString()!;
        var template = new ChatTemplate(source) { Clock = ClockFor(source, c, expected) };
        ChatTemplateTestData.AssertSameText(expected, ChatTemplateTestData.RenderCase(template, c), $"{file}/{caseName}");
    }

    /// <summary>
    /// Goldens rendered without a date_string kwarg contain the day transformers ran (strftime_now); render those
    /// with the clock stopped on that day so the rest of the text is compared on any later day.
    /// </summary>
    private static TimeProvider ClockFor(string source, JsonElement c, string expected)
    {
        bool usesClock = source.Contains("strftime_now", StringComparison.Ordinal)
            && !c.GetProperty("kwargs").TryGetProperty("date_string", out _);
        Match m = TodayDateRegex().Match(expected);
        if (!usesClock || !m.Success)
        {
            return TimeProvider.System;
        }

        var day = DateTime.ParseExact(m.Groups[1].Value, "dd MMM yyyy", CultureInfo.InvariantCulture);
        return new FixedClock(new DateTimeOffset(day.AddHours(12), TimeSpan.Zero));
    }

    [GeneratedRegex(@"Today Date: (\d{2} [A-Z][a-z]{2} \d{4})")]
    private static partial Regex TodayDateRegex();
}

/// <summary>A clock stopped at one instant, in UTC.</summary>
internal sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
}
