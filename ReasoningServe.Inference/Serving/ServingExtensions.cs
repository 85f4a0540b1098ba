using System.Net;
using System.Reflection;
using ReasoningServe.Inference.Engine;
using ReasoningServe.Inference.Serving.Api;
using ReasoningServe.Inference.Serving.Errors;
using ReasoningServe.Inference.Serving.Metrics;

namespace ReasoningServe.Inference.Serving;

/// <summary>The server's composition: options, the engine and the OpenAI-compatible endpoints.</summary>
internal static class ServingExtensions
{
    /// <summary>Binds "Inference" from appsettings, environment and the vLLM-style flags (the flags win) and listens on --host/--port.</summary>
    public static WebApplicationBuilder AddServerOptions(this WebApplicationBuilder builder, string[] args)
    {
        builder.Configuration.AddInMemoryCollection(CommandLine.Parse(args));
        var options = BindOptions(builder.Configuration);
        options.Validate();
        builder.Services.AddSingleton(options);
        builder.Host.Properties[typeof(ServerOptions)] = options;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (options.Host is "localhost")
            {
                kestrel.ListenLocalhost(options.Port);
            }
            else
            {
                kestrel.Listen(IPAddress.TryParse(options.Host, out var ip) ? ip : Dns.GetHostAddresses(options.Host)[0], options.Port);
            }
        });
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownTimeout));
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, OpenAIJsonContext.Default));
        return builder;
    }

    internal static ServerOptions BindOptions(IConfiguration configuration)
    {
        var section = configuration.GetSection(ServerOptions.Section);
        var options = section.Get<ServerOptions>() ?? new ServerOptions();
        // A single value from the environment (Inference__ApiKey=k) binds as a scalar, not as a list.
        AddScalar(options.ApiKey, section[nameof(ServerOptions.ApiKey)]);
        AddScalar(options.ServedModelName, section[nameof(ServerOptions.ServedModelName)]);
        AddScalar(options.ApiKey, configuration["VLLM_API_KEY"]);
        return options;

        static void AddScalar(List<string> list, string? value)
        {
            if (!string.IsNullOrEmpty(value) && !list.Contains(value))
            {
                list.Add(value);
            }
        }
    }

    /// <summary>Loads the model folder and starts the engine; a bad folder or setting stops start-up with its reason.</summary>
    public static WebApplicationBuilder AddInferenceEngine(this WebApplicationBuilder builder)
    {
        var options = (ServerOptions)builder.Host.Properties[typeof(ServerOptions)];
        var (model, engine, report) = ModelHost.Start(options);
        builder.Services.AddSingleton(model);
        builder.Services.AddSingleton(report);
        builder.Services.AddSingleton(_ => engine);
        builder.Services.AddSingleton<PrometheusMetrics>();
        builder.Services.AddSingleton<ChatCompletions>();
        builder.Services.AddSingleton<Completions>();
        return builder;
    }

    /// <summary>Logs the start-up report (model, device, load time, KV cache) once, before the server listens.</summary>
    public static WebApplication LogStartup(this WebApplication app)
    {
        ILogger logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ReasoningServe.Inference.Startup");
        foreach (string line in app.Services.GetRequiredService<StartupReport>().Lines())
        {
            logger.LogInformation("{Startup}", line);
        }
        return app;
    }

    public static WebApplication MapOpenAIEndpoints(this WebApplication app)
    {
        app.MapGet("/v1/models", (ServedModel model) =>
            Results.Json(new ModelList { Data = [Card(model, model.Name)] }, OpenAIJsonContext.Wire.ModelList));
        app.MapGet("/v1/models/{id}", (string id, ServedModel model) =>
        {
            model.EnsureServes(id);
            return Results.Json(Card(model, id), OpenAIJsonContext.Wire.ModelCard);
        });
        app.MapPost("/v1/chat/completions", (HttpContext context) =>
            context.RequestServices.GetRequiredService<ChatCompletions>().HandleAsync(context));
        app.MapPost("/v1/completions", (HttpContext context) =>
            context.RequestServices.GetRequiredService<Completions>().HandleAsync(context));
        app.MapPost("/tokenize", (HttpContext context) =>
            TokenizeEndpoints.TokenizeAsync(context, context.RequestServices.GetRequiredService<ServedModel>()));
        app.MapPost("/detokenize", (HttpContext context) =>
            TokenizeEndpoints.DetokenizeAsync(context, context.RequestServices.GetRequiredService<ServedModel>()));
        app.MapGet("/health", (IEngineClient engine) =>
            engine.IsHealthy ? Results.Ok() : Results.StatusCode(StatusCodes.Status503ServiceUnavailable));
        app.MapGet("/metrics", (PrometheusMetrics metrics) =>
            Results.Text(metrics.Render(), "text/plain; version=0.0.4; charset=utf-8"));
        app.MapGet("/version", () => Results.Json(new VersionResponse { Version = Version }, OpenAIJsonContext.Wire.VersionResponse));
        app.MapFallback((HttpContext context) =>
            OpenAIErrorWriter.WriteAsync(context.Response, StatusCodes.Status404NotFound,
                $"No route for {context.Request.Method} {context.Request.Path}."));
        return app;
    }

    private static ModelCard Card(ServedModel model, string id) =>
        new() { Id = id, Created = model.Created, Root = model.Root, MaxModelLen = model.MaxModelLen };

    private static string Version { get; } =
        typeof(ServingExtensions).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
}
