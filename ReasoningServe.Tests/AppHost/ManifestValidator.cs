using System.Text.Json;
using System.Text.RegularExpressions;

namespace ReasoningServe.Tests.AppHost;

/// <summary>
/// The rules of https://json.schemastore.org/aspire-8.0.json for the resource types we write, plus what azd
/// checks when it resolves the manifest: every <c>{resource.…}</c> expression names an existing resource and,
/// for bindings, an existing binding. Returns every violation, so a failing test lists them all.
/// </summary>
internal static partial class ManifestValidator
{
    private static readonly Dictionary<string, (string[] Required, string[] Allowed)> ResourceRules = new()
    {
        ["container.v0"] = (["type", "image"], ["type", "image", "entrypoint", "args", "connectionString", "env", "bindings", "volumes", "bindMounts"]),
        // Exactly one of image and build is required as well (the schema's oneOf): checked in ValidateContainerV1.
        ["container.v1"] = (["type"], ["type", "image", "build", "entrypoint", "deployment", "args", "connectionString", "env", "bindings", "volumes", "bindMounts"]),
        ["project.v0"] = (["type", "path"], ["type", "path", "args", "env", "bindings"]),
        ["project.v1"] = (["type", "path"], ["type", "path", "deployment", "args", "env", "bindings"]),
        ["parameter.v0"] = (["type", "value", "inputs"], ["type", "value", "connectionString", "inputs"]),
        ["value.v0"] = (["type"], ["type", "value", "connectionString"]),
    };

    private static readonly string[] BindingFields = ["scheme", "protocol", "transport", "port", "targetPort", "external"];

    private static readonly string[] BuildFields = ["context", "dockerfile", "args", "secrets"];

    [GeneratedRegex(@"(?<!\{)\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_.]+)\}(?!\})")]
    private static partial Regex Expression();

    public static List<string> Validate(JsonDocument manifest)
    {
        var errors = new List<string>();
        var root = manifest.RootElement;
        if (!root.TryGetProperty("$schema", out var schema) || schema.GetString() != "https://json.schemastore.org/aspire-8.0.json")
        {
            errors.Add("$schema must be the aspire-8.0 schema");
        }
        if (!root.TryGetProperty("resources", out var resources) || resources.ValueKind != JsonValueKind.Object)
        {
            errors.Add("resources must be an object");
            return errors;
        }
        foreach (var resource in resources.EnumerateObject())
        {
            ValidateResource(resource.Name, resource.Value, resources, errors);
        }
        return errors;
    }

    private static void ValidateResource(string name, JsonElement resource, JsonElement resources, List<string> errors)
    {
        var type = resource.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
        if (!ResourceRules.TryGetValue(type, out var rules))
        {
            errors.Add($"{name}: type '{type}' is not one we may write (azd rejects unknown types)");
            return;
        }
        foreach (var required in rules.Required)
        {
            if (!resource.TryGetProperty(required, out _))
            {
                errors.Add($"{name}: missing required '{required}'");
            }
        }
        foreach (var property in resource.EnumerateObject())
        {
            if (!rules.Allowed.Contains(property.Name))
            {
                errors.Add($"{name}: '{property.Name}' is not allowed in {type}");
            }
        }
        if (resource.TryGetProperty("args", out var args))
        {
            foreach (var arg in args.EnumerateArray())
            {
                CheckString($"{name}.args", arg, resources, errors);
            }
        }
        if (resource.TryGetProperty("env", out var env))
        {
            foreach (var variable in env.EnumerateObject())
            {
                CheckString($"{name}.env.{variable.Name}", variable.Value, resources, errors);
            }
        }
        foreach (var field in new[] { "connectionString", "value" })
        {
            if (resource.TryGetProperty(field, out var value))
            {
                CheckString($"{name}.{field}", value, resources, errors);
            }
        }
        if (resource.TryGetProperty("bindings", out var bindings))
        {
            foreach (var binding in bindings.EnumerateObject())
            {
                ValidateBinding($"{name}.bindings.{binding.Name}", binding.Value, errors);
            }
        }
        if (type == "container.v1")
        {
            ValidateContainerV1(name, resource, resources, errors);
        }
        if (type == "parameter.v0")
        {
            var input = resource.GetProperty("inputs").GetProperty("value");
            if (input.GetProperty("type").GetString() != "string")
            {
                errors.Add($"{name}: inputs.value.type must be 'string'");
            }
            if (input.TryGetProperty("default", out var defaultValue) && defaultValue.TryGetProperty("value", out _)
                && input.TryGetProperty("secret", out var secret) && secret.GetBoolean())
            {
                errors.Add($"{name}: a secret input must not carry a literal default value");
            }
        }
    }

    private static void ValidateContainerV1(string name, JsonElement resource, JsonElement resources, List<string> errors)
    {
        var hasImage = resource.TryGetProperty("image", out _);
        var hasBuild = resource.TryGetProperty("build", out var build);
        if (hasImage == hasBuild)
        {
            errors.Add($"{name}: a container.v1 needs exactly one of 'image' and 'build'");
        }
        if (!hasBuild)
        {
            return;
        }
        if (build.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{name}.build: must be an object");
            return;
        }
        foreach (var property in build.EnumerateObject())
        {
            if (!BuildFields.Contains(property.Name))
            {
                errors.Add($"{name}.build: '{property.Name}' is not a build field");
            }
        }
        foreach (var required in new[] { "context", "dockerfile" })
        {
            if (!build.TryGetProperty(required, out var value) || value.ValueKind != JsonValueKind.String || value.GetString()!.Length == 0)
            {
                errors.Add($"{name}.build: missing required '{required}'");
            }
        }
        if (build.TryGetProperty("args", out var buildArgs))
        {
            foreach (var arg in buildArgs.EnumerateObject())
            {
                CheckString($"{name}.build.args.{arg.Name}", arg.Value, resources, errors);
            }
        }
    }

    private static void ValidateBinding(string path, JsonElement binding, List<string> errors)
    {
        foreach (var property in binding.EnumerateObject())
        {
            if (!BindingFields.Contains(property.Name))
            {
                errors.Add($"{path}: '{property.Name}' is not a binding field");
            }
        }
        Check(path, binding, "scheme", ["http", "https", "tcp", "udp"], required: true, errors);
        Check(path, binding, "protocol", ["tcp", "udp"], required: true, errors);
        Check(path, binding, "transport", ["http", "http2", "tcp"], required: true, errors);
        foreach (var port in new[] { "port", "targetPort" })
        {
            if (binding.TryGetProperty(port, out var value) && (value.ValueKind != JsonValueKind.Number || value.GetInt32() is < 1 or > 65535))
            {
                errors.Add($"{path}.{port}: must be a port number");
            }
        }
        // azd puts an http(s) binding on the Container App's main ingress, which serves only 80 (https: 443), and
        // fails the deployment for any other explicit port.
        if (binding.TryGetProperty("port", out var exposed) && exposed.ValueKind == JsonValueKind.Number
            && binding.TryGetProperty("scheme", out var scheme) && (scheme.GetString(), exposed.GetInt32()) is ("http", not 80) or ("https", not 443))
        {
            errors.Add($"{path}.port: azd maps {scheme.GetString()} bindings to the main ingress, which only serves port {(scheme.GetString() == "http" ? 80 : 443)}");
        }
        if (binding.TryGetProperty("external", out var external) && external.ValueKind != JsonValueKind.True)
        {
            errors.Add($"{path}.external: written only when true");
        }
    }

    private static void Check(string path, JsonElement binding, string field, string[] allowed, bool required, List<string> errors)
    {
        if (!binding.TryGetProperty(field, out var value))
        {
            if (required)
            {
                errors.Add($"{path}: missing '{field}'");
            }
        }
        else if (!allowed.Contains(value.GetString()))
        {
            errors.Add($"{path}.{field}: '{value.GetString()}' is not one of {string.Join("|", allowed)}");
        }
    }

    /// <summary>Every expression must resolve: a resource that exists, and for bindings a binding it declares.</summary>
    private static void CheckString(string path, JsonElement value, JsonElement resources, List<string> errors)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            errors.Add($"{path}: must be a string");
            return;
        }
        foreach (Match match in Expression().Matches(value.GetString()!))
        {
            var (resourceName, member) = (match.Groups[1].Value, match.Groups[2].Value);
            if (!resources.TryGetProperty(resourceName, out var target))
            {
                errors.Add($"{path}: {match.Value} names no resource '{resourceName}'");
                continue;
            }
            var targetType = target.GetProperty("type").GetString();
            var parts = member.Split('.');
            var valid = parts switch
            {
                ["connectionString"] => target.TryGetProperty("connectionString", out _),
                ["value"] or ["inputs", "value"] => targetType == "parameter.v0",
                ["bindings", var binding, "url" or "host" or "port" or "targetPort" or "scheme"] =>
                    target.TryGetProperty("bindings", out var bindings) && bindings.TryGetProperty(binding, out _),
                _ => false,
            };
            if (!valid)
            {
                errors.Add($"{path}: {match.Value} does not resolve on {targetType} '{resourceName}'");
            }
        }
    }
}
