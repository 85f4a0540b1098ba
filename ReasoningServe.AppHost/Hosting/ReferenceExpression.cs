namespace ReasoningServe.AppHost.Hosting;

/// <summary>A string made of literal text and other values, e.g. a connection string built from host, port and password.</summary>
internal sealed class ReferenceExpression : IValueExpression
{
    private readonly IReadOnlyList<IValueExpression> _parts;

    private ReferenceExpression(IReadOnlyList<IValueExpression> parts) => _parts = parts;

    /// <summary>Parts are strings (literal text) or <see cref="IValueExpression"/>s.</summary>
    public static ReferenceExpression Create(params object[] parts)
    {
        var values = new List<IValueExpression>(parts.Length);
        foreach (var part in parts)
        {
            values.Add(part switch
            {
                string text => new LiteralValue(text),
                IValueExpression value => value,
                _ => throw new ArgumentException($"Unsupported expression part {part.GetType().Name}.", nameof(parts)),
            });
        }
        return new ReferenceExpression(values);
    }

    public string ValueExpression => string.Concat(_parts.Select(p => p.ValueExpression));

    public bool IsSecret => _parts.Any(p => p.IsSecret);

    public string? GetValue(ValueContext context)
    {
        var builder = new System.Text.StringBuilder();
        foreach (var part in _parts)
        {
            if (part.GetValue(context) is not string value)
            {
                return null;
            }
            builder.Append(value);
        }
        return builder.ToString();
    }
}

/// <summary><c>{name.connectionString}</c>: how a referencing resource names another's connection string.</summary>
internal sealed class ConnectionStringReference(IResourceWithConnectionString resource) : IValueExpression
{
    public IResourceWithConnectionString Resource { get; } = resource;

    public string ValueExpression => $"{{{Resource.Name}.connectionString}}";

    public bool IsSecret => Resource.ConnectionStringExpression.IsSecret;

    public string? GetValue(ValueContext context) => Resource.ConnectionStringExpression.GetValue(context);
}
