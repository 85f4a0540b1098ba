using ReasoningServe.Inference.Engine;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Serving.Reasoning;
using ReasoningServe.Inference.Tokenization;
using ReasoningServe.Inference.Tokenization.ChatTemplates;

namespace ReasoningServe.Inference.Serving;

/// <summary>
/// Start-up: the model folder's tokenizer, chat template, sampling defaults and reasoning parser, plus the engine on
/// the chosen device. Every problem surfaces here, before the server listens, as a <see cref="ServerOptionsException"/>.
/// </summary>
internal static class ModelHost
{
    public static (ServedModel Model, IEngineClient Engine, StartupReport Report) Start(ServerOptions options)
    {
        var folder = options.Model!;
        if (!Directory.Exists(folder))
        {
            throw new ServerOptionsException($"--model: the folder '{folder}' does not exist.");
        }
        var tokenizer = Tokenizer.FromFolder(folder);
        var parser = options.ReasoningParser is { } name ? CreateParser(name, tokenizer) : null;
        var loading = System.Diagnostics.Stopwatch.StartNew();
        var loaded = Load(folder, options.LoadFormat);
        var maxModelLen = MaxModelLen(options, loaded.Config, folder);
        IReadOnlyList<string> names = options.ServedModelName.Count > 0 ? options.ServedModelName : [folder];
        var (engine, report) = EngineHost.Start(options, loaded, tokenizer, maxModelLen, names[0], loading);
        var model = new ServedModel
        {
            Names = names,
            Root = folder,
            MaxModelLen = engine.MaxModelLen,
            Tokenizer = tokenizer,
            ChatTemplate = LoadChatTemplate(options.ChatTemplate, tokenizer),
            Defaults = loaded.Generation,
            ReasoningParser = parser,
            ReasoningField = options.ReasoningFieldMode,
            DefaultChatTemplateKwargs = JsonValues.ParseObject(options.DefaultChatTemplateKwargs, "--default-chat-template-kwargs"),
            DefaultSeed = options.Seed,
        };
        return (model, engine, report);
    }

    private static IReasoningParser CreateParser(string name, Tokenizer tokenizer)
    {
        try
        {
            return ReasoningParserFactory.Create(name, tokenizer);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new ServerOptionsException("--reasoning-parser: " + e.Message);
        }
    }

    private static LoadedModel Load(string folder, string loadFormat)
    {
        try
        {
            return ModelLoader.Load(folder, LoadFormatParser.Parse(loadFormat));
        }
        catch (ModelLoadException e)
        {
            throw new ServerOptionsException(e.Message);
        }
    }

    /// <summary>--max-model-len, else config.json's max_position_embeddings; longer than the model was trained for is refused.</summary>
    private static int MaxModelLen(ServerOptions options, ModelConfig config, string folder)
    {
        if (options.MaxModelLen is int requested && requested > config.MaxPositionEmbeddings)
        {
            throw new ServerOptionsException(
                $"--max-model-len {requested} is longer than the model's max_position_embeddings ({config.MaxPositionEmbeddings}) "
                + $"in {Path.Combine(folder, ModelLoader.ConfigFileName)}.");
        }
        return options.MaxModelLen ?? config.MaxPositionEmbeddings;
    }

    private static ChatTemplate? LoadChatTemplate(string? option, Tokenizer tokenizer)
    {
        // vLLM takes a file path or the template itself.
        var source = option is null ? tokenizer.ChatTemplate : File.Exists(option) ? File.ReadAllText(option) : option;
        if (source is null)
        {
            return null;
        }
        try
        {
            return new ChatTemplate(source);
        }
        catch (ChatTemplateException e)
        {
            throw new ServerOptionsException($"The chat template does not parse: {e.Message}");
        }
    }
}
