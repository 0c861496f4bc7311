using System.Reflection;
using System.Text;

namespace VoiceFunctions.AiFlow.Tests;

/// <summary>
/// The package's public surface is deliberate: a checked-in listing (PublicApi.txt) is compared with what the
/// assembly exposes, so an accidental change fails here instead of in a customer's build.
/// </summary>
public class PublicApiTests
{
    private const string UpdateVariable = "UPDATE_PUBLIC_API";

    [Fact]
    public void The_public_api_is_exactly_the_checked_in_listing()
    {
        var listing = Path.Combine(RepositoryRoot.Path, "tests", "VoiceFunctions.AiFlow.Tests", "PublicApi.txt");
        var actual = PublicApi.Describe(typeof(AiFlowEventParser).Assembly);
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            File.WriteAllText(listing, actual);
        }

        var expected = File.Exists(listing) ? File.ReadAllText(listing).ReplaceLineEndings("\n") : string.Empty;
        if (expected != actual)
        {
            var received = listing + ".received";
            File.WriteAllText(received, actual);
            var added = actual.Split('\n').Except(expected.Split('\n')).Take(20);
            var removed = expected.Split('\n').Except(actual.Split('\n')).Take(20);
            Assert.Fail(
                "The public API of VoiceFunctions.AiFlow changed.\n" +
                $"Added:\n  {string.Join("\n  ", added)}\nRemoved:\n  {string.Join("\n  ", removed)}\n" +
                $"If the change is intended (mind the versioning policy in src/VoiceFunctions.AiFlow/README.md), accept it with\n" +
                $"  {UpdateVariable}=1 dotnet test --project tests/VoiceFunctions.AiFlow.Tests -c Release\n" +
                $"or copy {received} over {listing}, and commit the listing.");
        }
    }

    [Fact]
    public void Helpers_are_not_part_of_the_public_api()
    {
        var exported = typeof(AiFlowEventParser).Assembly.GetExportedTypes().Select(t => t.Name).ToList();

        Assert.DoesNotContain("LenientStringConverter", exported);
        Assert.DoesNotContain("OptionalStringConverter", exported);
        Assert.DoesNotContain("AiFlowJsonContext", exported);
    }
}

/// <summary>One line per public type and member, ordered, with simple type names: stable across builds.</summary>
internal static class PublicApi
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    public static string Describe(Assembly assembly)
    {
        var lines = new List<string>();
        foreach (var type in assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            lines.Add(TypeLine(type));
            var members = new List<string>();
            foreach (var member in type.GetMembers(Declared).Where(IsVisible))
            {
                if (MemberLine(member) is { } line)
                {
                    members.Add("  " + line);
                }
            }

            lines.AddRange(members.Order(StringComparer.Ordinal));
        }

        return string.Join("\n", lines) + "\n";
    }

    private static bool IsVisible(MemberInfo member) => member switch
    {
        MethodBase m => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly,
        FieldInfo f => f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly,
        PropertyInfo p => p.GetAccessors(nonPublic: true).Any(a => a.IsPublic || a.IsFamily || a.IsFamilyOrAssembly),
        Type t => t.IsNestedPublic || t.IsNestedFamily,
        _ => false,
    };

    private static string TypeLine(Type type)
    {
        var kind = type.IsEnum ? "enum" : type.IsValueType ? "struct" : type.IsInterface ? "interface"
            : type.IsAbstract && type.IsSealed ? "static class"
            : type.GetMethod("<Clone>$") is not null ? (type.IsAbstract ? "abstract record" : type.IsSealed ? "sealed record" : "record")
            : type.IsAbstract ? "abstract class" : type.IsSealed ? "sealed class" : "class";
        var bases = new List<string>();
        if (type.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum))
        {
            bases.Add(Name(b));
        }

        bases.AddRange(type.GetInterfaces().Where(i => type.BaseType?.GetInterfaces().Contains(i) != true).Select(Name).Order(StringComparer.Ordinal));
        return $"{kind} {type.FullName}" + (bases.Count > 0 ? " : " + string.Join(", ", bases) : string.Empty);
    }

    private static string? MemberLine(MemberInfo member) => member switch
    {
        ConstructorInfo c => $"{Access(c)}ctor({Parameters(c)})",
        MethodInfo m when m.IsSpecialName && !m.Name.StartsWith("op_", StringComparison.Ordinal) => null, // property accessors
        MethodInfo m => $"{Access(m)}{(m.IsStatic ? "static " : m.IsAbstract ? "abstract " : m.IsVirtual && !m.IsFinal ? "virtual " : string.Empty)}{Name(m.ReturnType)} {m.Name}({Parameters(m)})",
        PropertyInfo p => $"{Name(p.PropertyType)} {p.Name} {{ {Accessors(p)}}}",
        FieldInfo f when f.IsLiteral => $"const {Name(f.FieldType)} {f.Name} = {Literal(f.GetRawConstantValue())}",
        FieldInfo f => $"{(f.IsStatic ? "static " : string.Empty)}{(f.IsInitOnly ? "readonly " : string.Empty)}{Name(f.FieldType)} {f.Name}",
        Type t => $"nested {TypeLine(t)}",
        _ => null,
    };

    private static string Access(MethodBase m) => m.IsPublic ? string.Empty : "protected ";

    private static string Accessors(PropertyInfo p)
    {
        var text = new StringBuilder();
        if (p.GetMethod is { } get && (get.IsPublic || get.IsFamily))
        {
            text.Append(get.IsPublic ? "get; " : "protected get; ");
        }

        if (p.SetMethod is { } set && (set.IsPublic || set.IsFamily))
        {
            var init = set.ReturnParameter.GetRequiredCustomModifiers().Any(m => m.Name == "IsExternalInit");
            text.Append(set.IsPublic ? string.Empty : "protected ").Append(init ? "init; " : "set; ");
        }

        return text.ToString();
    }

    private static string Parameters(MethodBase m) => string.Join(", ", m.GetParameters().Select(p => $"{Name(p.ParameterType)} {p.Name}"));

    private static string Literal(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    private static string Name(Type type)
    {
        if (type.IsByRef)
        {
            return Name(type.GetElementType()!) + "&";
        }

        if (type.IsArray)
        {
            return Name(type.GetElementType()!) + "[]";
        }

        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            return Name(underlying) + "?";
        }

        if (type.IsGenericType)
        {
            var name = type.Name[..type.Name.IndexOf('`', StringComparison.Ordinal)];
            return $"{name}<{string.Join(", ", type.GetGenericArguments().Select(Name))}>";
        }

        return type.Name;
    }
}

/// <summary>The repository checkout the tests run from (for checked-in files and the package build).</summary>
internal static class RepositoryRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "VoiceFunctions.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("VoiceFunctions.sln not found above " + AppContext.BaseDirectory);
    }
}
