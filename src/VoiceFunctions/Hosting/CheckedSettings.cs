using System.ComponentModel;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Options;

namespace VoiceFunctions.Hosting;

/// <summary>
/// One bound section of settings, checked at start-up by <see cref="StartupCheck"/>: every value that cannot be
/// read as its property's type, then (when all can) the section's own validation. The configuration binder stops
/// at the first value it cannot convert (and, inside a dictionary such as <c>Personas</c>, drops the whole entry
/// without a word), so the values are read here one by one, with the converter the binder uses
/// (<see cref="TypeDescriptor.GetConverter(Type)"/>, invariant culture), and each bad one is named.
/// </summary>
public sealed class CheckedSettings
{
    private const int MaxDepth = 8;

    private readonly IConfigurationSection _section;
    private readonly Type _type;
    private readonly Func<IServiceProvider, object> _resolve;

    private CheckedSettings(IConfigurationSection section, Type type, Func<IServiceProvider, object> resolve)
    {
        _section = section;
        _type = type;
        _resolve = resolve;
    }

    /// <summary>Binds <typeparamref name="T"/> to the section, validates it on start and registers it for the start-up check.</summary>
    public static OptionsBuilder<T> Bind<T>(OptionsBuilder<T> builder, IConfiguration configuration, string section)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        var bound = configuration.GetSection(section);
        var name = builder.Name;
        builder.Bind(bound).ValidateOnStart();
        builder.Services.AddSingleton(new CheckedSettings(bound, typeof(T), provider => provider.GetRequiredService<IOptionsMonitor<T>>().Get(name)));
        return builder;
    }

    /// <summary>What is wrong with the section: unreadable values first; only when there are none, its validation's failures.</summary>
    public IReadOnlyList<string> Check(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var failures = new List<string>();
        CheckChildren(_section, _type, failures, 0);
        if (failures.Count > 0)
        {
            return failures; // the validation would only trip over the same value
        }

        try
        {
            _resolve(services);
        }
        catch (OptionsValidationException ex)
        {
            failures.AddRange(ex.Failures);
        }
        catch (InvalidOperationException ex)
        {
            // A value the walk above could not foresee (the binder's own rules): its message names the path.
            failures.Add($"{_section.Path}: {ex.Message}");
        }

        return failures;
    }

    private static void CheckChildren(IConfigurationSection section, Type type, List<string> failures, int depth)
    {
        if (depth > MaxDepth)
        {
            return;
        }

        if (ElementType(type, out var isDictionary) is { } element)
        {
            // Dictionary entries and list items: every child is one element.
            foreach (var child in section.GetChildren())
            {
                CheckValue(child, element, failures, depth + 1);
            }

            if (isDictionary)
            {
                return;
            }
        }

        foreach (var child in section.GetChildren())
        {
            var property = type.GetProperty(child.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is not null && property.GetIndexParameters().Length == 0)
            {
                CheckValue(child, property.PropertyType, failures, depth + 1);
            }
        }
    }

    private static void CheckValue(IConfigurationSection node, Type type, List<string> failures, int depth)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        if (target == typeof(string) || target == typeof(object))
        {
            return;
        }

        var converter = TypeDescriptor.GetConverter(target);
        if (ElementType(target, out _) is null && converter.CanConvertFrom(typeof(string)))
        {
            // An empty value is "unset" for the binder (the default stays); anything else must convert.
            if (!string.IsNullOrEmpty(node.Value) && !Converts(converter, node.Value))
            {
                failures.Add($"{node.Path} is not a valid {Describe(target)}.");
            }

            return;
        }

        CheckChildren(node, target, failures, depth);
    }

    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "Converters throw what they like (FormatException, OverflowException, ArgumentException, NotSupportedException): each means the value is unreadable, as the binder treats it.")]
    private static bool Converts(TypeConverter converter, string value)
    {
        try
        {
            converter.ConvertFromInvariantString(value);
            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }

    private static Type? ElementType(Type type, out bool isDictionary)
    {
        isDictionary = false;
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        foreach (var candidate in type.GetInterfaces().Prepend(type))
        {
            if (!candidate.IsGenericType)
            {
                continue;
            }

            var definition = candidate.GetGenericTypeDefinition();
            if (definition == typeof(IDictionary<,>) || definition == typeof(IReadOnlyDictionary<,>))
            {
                isDictionary = true;
                return candidate.GetGenericArguments()[1];
            }
        }

        foreach (var candidate in type.GetInterfaces().Prepend(type))
        {
            if (candidate.IsGenericType && candidate.GetGenericTypeDefinition() == typeof(IEnumerable<>) && type != typeof(string))
            {
                return candidate.GetGenericArguments()[0];
            }
        }

        return null;
    }

    private static string Describe(Type type)
    {
        if (type.IsEnum)
        {
            return "value (one of " + string.Join(", ", Enum.GetNames(type)) + ")";
        }

        return Type.GetTypeCode(type) switch
        {
            TypeCode.Boolean => "boolean (true or false)",
            TypeCode.Byte or TypeCode.SByte or TypeCode.Int16 or TypeCode.UInt16 or TypeCode.Int32 or TypeCode.UInt32 or TypeCode.Int64 or TypeCode.UInt64 => "whole number",
            TypeCode.Single or TypeCode.Double or TypeCode.Decimal => "number (e.g. 0.7, with a point)",
            _ when type == typeof(TimeSpan) => "time span (e.g. 00:00:00.800 for 800 ms)",
            _ when type == typeof(Uri) => "URI",
            _ => type.Name.ToLower(CultureInfo.InvariantCulture),
        };
    }
}

public static class CheckedSettingsExtensions
{
    /// <summary>
    /// <c>Bind(configuration.GetSection(section))</c> plus <c>ValidateOnStart()</c>, and the section's values are
    /// checked one by one at start-up, so an unreadable one is named instead of crashing or being dropped.
    /// </summary>
    public static OptionsBuilder<T> BindChecked<T>(this OptionsBuilder<T> builder, IConfiguration configuration, string section)
        where T : class => CheckedSettings.Bind(builder, configuration, section);
}
