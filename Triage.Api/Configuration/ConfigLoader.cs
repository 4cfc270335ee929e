using System.Collections;
using System.Reflection;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Triage.Api.Configuration;

/// <summary>
/// Loads the one YAML configuration file and reports every problem at once, each with file, line and field.
/// The typed model is read by YamlDotNet; the same text is also kept as a node tree so that errors found later
/// (unknown fields, failed validation) can still be pointed at the line they came from.
/// </summary>
internal static class ConfigLoader
{
    public static TriageConfig Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException([new ConfigError(path, 0, 0, "(file)", ex.Message)]);
        }

        return Parse(text, path);
    }

    public static TriageConfig Parse(string text, string fileName)
    {
        var tree = new YamlStream();
        TriageConfig? config;
        try
        {
            tree.Load(new StringReader(text));
            config = BuildDeserializer().Deserialize<TriageConfig?>(text);
        }
        catch (YamlException ex)
        {
            throw new ConfigException([new ConfigError(fileName, (int)ex.Start.Line, (int)ex.Start.Column,
                FieldAt(tree, ex.Start), (ex.InnerException ?? ex).Message)]);
        }

        config ??= new TriageConfig();
        var root = tree.Documents.Count > 0 ? tree.Documents[0].RootNode : null;
        var context = new ConfigValidationContext(fileName, root);
        var holes = 0;
        if (root is not null)
        {
            ReportUnknownFields(root, typeof(TriageConfig), null, "", context, ref holes);
        }

        // A key left without a value (typically a list whose lines below are indented wrongly) leaves null where the
        // model has a list, a section or a name; the checks after this rely on those being there.
        if (holes == 0)
        {
            config.Validate(context);
        }
        if (context.Errors.Count > 0)
        {
            throw new ConfigException(context.Errors);
        }

        config.SourceFile = Path.GetFullPath(fileName);
        return config;
    }

    private static IDeserializer BuildDeserializer() => new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .WithTypeConverter(new DurationConverter())
        .IgnoreUnmatchedProperties()
        .Build();

    /// <summary>
    /// Walks the YAML tree against the model's properties and reports keys the model does not have, and keys or list
    /// entries left without a value where the model needs one (<paramref name="holes"/> counts those).
    /// </summary>
    /// <param name="nullability">How the property or element was declared; null for the root.</param>
    private static void ReportUnknownFields(YamlNode node, Type type, NullabilityInfo? nullability, string path,
        ConfigValidationContext context, ref int holes)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (IsNull(node))
        {
            // YamlDotNet stores null for "key:" with nothing after it and for a lone "-". A property declared nullable
            // may be left out that way, except a list: an empty key there is a list that lost its lines.
            var declaredNullable = nullability?.ReadState == NullabilityState.Nullable;
            if (!type.IsValueType && (!declaredNullable || IsList(type, out _) || IsDictionary(type, out _)))
            {
                holes++;
                context.ErrorAt(node.Start, path, path.EndsWith(']') ? "is an empty entry (a '-' with nothing after it)"
                    : IsModel(type) || IsList(type, out _) ? "has no value; if a list or section was meant, check the indentation of the lines below it"
                    : "has no value");
            }
        }
        else if (node is YamlMappingNode mapping && IsDictionary(type, out var valueType))
        {
            var valueNullability = nullability?.GenericTypeArguments.ElementAtOrDefault(1);
            foreach (var (key, value) in mapping.Children)
            {
                ReportUnknownFields(value, valueType, valueNullability, Join(path, ((YamlScalarNode)key).Value ?? ""), context, ref holes);
            }
        }
        else if (node is YamlMappingNode objectMapping && IsModel(type))
        {
            var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.CanWrite && p.GetCustomAttribute<YamlIgnoreAttribute>() is null)
                .ToDictionary(p => UnderscoredNamingConvention.Instance.Apply(p.Name), StringComparer.Ordinal);
            foreach (var (key, value) in objectMapping.Children)
            {
                var name = ((YamlScalarNode)key).Value ?? "";
                if (properties.TryGetValue(name, out var property))
                {
                    ReportUnknownFields(value, property.PropertyType, new NullabilityInfoContext().Create(property), Join(path, name), context, ref holes);
                }
                else
                {
                    context.ErrorAt(key.Start, Join(path, name),
                        $"unknown field; expected one of {string.Join(", ", properties.Keys.Order(StringComparer.Ordinal))}");
                }
            }
        }
        else if (node is YamlSequenceNode sequence && IsList(type, out var itemType))
        {
            var itemNullability = nullability is { ElementType: { } element } ? element : nullability?.GenericTypeArguments.FirstOrDefault();
            for (var i = 0; i < sequence.Children.Count; i++)
            {
                ReportUnknownFields(sequence.Children[i], itemType, itemNullability, $"{path}[{i}]", context, ref holes);
            }
        }
    }

    /// <summary>A plain scalar that YAML reads as null: nothing, <c>~</c> or <c>null</c> (a quoted "" is an empty string).</summary>
    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } scalar
        && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL";

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    private static bool IsModel(Type type) =>
        type.IsClass && type != typeof(string) && !typeof(IEnumerable).IsAssignableFrom(type);

    private static bool IsDictionary(Type type, out Type valueType)
    {
        var dictionary = type.GetInterfaces().Append(type).FirstOrDefault(t =>
            t.IsGenericType && t.GetGenericTypeDefinition() == typeof(IDictionary<,>));
        valueType = dictionary?.GetGenericArguments()[1] ?? typeof(object);
        return dictionary is not null;
    }

    private static bool IsList(Type type, out Type itemType)
    {
        var list = type.GetInterfaces().Append(type).FirstOrDefault(t =>
            t.IsGenericType && t.GetGenericTypeDefinition() == typeof(IEnumerable<>));
        itemType = list?.GetGenericArguments()[0] ?? typeof(object);
        return list is not null && type != typeof(string);
    }

    private static string FieldAt(YamlStream tree, Mark mark)
    {
        if (tree.Documents.Count == 0)
        {
            return "(document)";
        }

        return ConfigValidationContext.PathOfMark(tree.Documents[0].RootNode, mark) ?? "(document)";
    }
}
