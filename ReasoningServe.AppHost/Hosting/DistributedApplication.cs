using System.Runtime.InteropServices;
using ReasoningServe.AppHost.Orchestration;
using ReasoningServe.AppHost.Publishing;

namespace ReasoningServe.AppHost.Hosting;

/// <summary>
/// The built app: <see cref="Run"/> either writes the manifest (<c>--publisher manifest</c>) or runs every resource
/// locally until Ctrl+C or SIGTERM, then stops them all.
/// </summary>
internal sealed class DistributedApplication : IAsyncDisposable
{
    private readonly DistributedApplicationBuilder _builder;
    private LocalRunner? _runner;

    internal DistributedApplication(DistributedApplicationBuilder builder) => _builder = builder;

    public static DistributedApplicationBuilder CreateBuilder(string[] args) => new(args);

    public LocalRunner Runner => _runner ?? throw new InvalidOperationException("The application has not been started.");

    /// <summary>Runs to completion and sets the process exit code (non-zero when the app could not be run).</summary>
    public void Run() => Environment.ExitCode = RunAsync().GetAwaiter().GetResult();

    public async Task<int> RunAsync()
    {
        try
        {
            if (_builder.ExecutionContext.IsPublishMode)
            {
                return Publish();
            }
            using var stop = new CancellationTokenSource();
            void OnSignal(PosixSignalContext context)
            {
                context.Cancel = true;
                _runner?.BeginShutdown();
                stop.Cancel();
            }
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            try
            {
                await StartAsync(stop.Token);
                _builder.Log.Info("press Ctrl+C to stop");
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            finally
            {
                if (_runner is not null)
                {
                    _builder.Log.Info("stopping");
                    await StopAsync();
                }
            }
            return 0;
        }
        catch (AppHostConfigurationException e)
        {
            Console.Error.WriteLine($"apphost: error: {e.Message}");
            return 1;
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        _runner = new LocalRunner(_builder.Resources, _builder.ExecutionContext, _builder.Log, _builder.RunOptions);
        await _runner.StartAsync(cancellationToken);
    }

    public Task StopAsync() => _runner?.StopAsync() ?? Task.CompletedTask;

    public async ValueTask DisposeAsync() => await StopAsync();

    private int Publish()
    {
        var publisher = _builder.Configuration["Publishing:Publisher"];
        if (publisher != "manifest")
        {
            throw new AppHostConfigurationException($"unknown publisher '{publisher}'; the only one is 'manifest'.");
        }
        var outputPath = _builder.Configuration["Publishing:OutputPath"] is { Length: > 0 } path ? path : "aspire-manifest.json";
        ManifestPublisher.Write(_builder.Resources, _builder.ExecutionContext, outputPath);
        Console.WriteLine($"Wrote the manifest to {Path.GetFullPath(outputPath)}");
        return 0;
    }
}
