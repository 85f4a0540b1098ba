namespace ReasoningServe.AppHost.Hosting;

/// <summary>A mistake in what the user asked for (a config file, a missing model): reported as a message, not a stack trace.</summary>
internal sealed class AppHostConfigurationException(string message) : Exception(message);
