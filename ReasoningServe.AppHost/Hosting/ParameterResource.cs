using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;

namespace ReasoningServe.AppHost.Hosting;

/// <summary>
/// A value supplied from outside the app model: configuration key <c>Parameters:name</c> locally (environment
/// <c>Parameters__name</c>), else the value the app model gave (a config file's), a prompt or generated value at deployment. Secret values never reach the
/// manifest and are masked in logs.
/// </summary>
internal sealed class ParameterResource : Resource, IValueExpression
{
    private readonly IConfiguration _configuration;
    private readonly Lock _lock = new();
    private string? _value;

    private readonly string? _defaultValue;

    public ParameterResource(string name, IConfiguration configuration, bool secret, int? generatedMinLength, string? defaultValue = null)
        : base(name)
    {
        _configuration = configuration;
        Secret = secret;
        GeneratedMinLength = generatedMinLength;
        _defaultValue = defaultValue;
    }

    public bool Secret { get; }

    /// <summary>Set when a missing value is generated (passwords): locally once per run, at deployment by azd.</summary>
    public int? GeneratedMinLength { get; }

    public string ValueExpression => $"{{{Name}.value}}";

    public bool IsSecret => Secret;

    public string? GetValue(ValueContext context) => Value;

    public string Value
    {
        get
        {
            lock (_lock)
            {
                return _value ??= _configuration[$"Parameters:{Name}"] is { Length: > 0 } configured
                    ? configured
                    : _defaultValue is not null
                    ? _defaultValue
                    : GeneratedMinLength is int length
                        ? Generate(length)
                        : throw new AppHostConfigurationException(
                            $"Parameter '{Name}' has no value: set configuration key 'Parameters:{Name}' (environment variable Parameters__{Name}).");
            }
        }
    }

    /// <summary>Letters and digits only (azd's <c>special: false</c>): the value goes into connection strings unquoted.</summary>
    private static string Generate(int length)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return RandomNumberGenerator.GetString(alphabet, length);
    }
}
