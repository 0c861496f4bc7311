using System.Text;
using System.Text.RegularExpressions;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// An HTTP trigger's route ("items/{id}", "{*rest}", "files/{name}.{ext}", "{id:int?}") as a regular expression.
/// Constraints are not checked: a parameter matches one non-empty path segment (a catch-all the rest).
/// </summary>
internal sealed partial class RouteTemplate
{
    private readonly Regex regex;
    private readonly List<string> parameterNames = [];

    public RouteTemplate(string routePrefix, string route)
    {
        var pattern = new StringBuilder("^");
        var segments = (routePrefix + "/" + route).Split('/', StringSplitOptions.RemoveEmptyEntries);
        foreach (var segment in segments)
        {
            var whole = WholeParameter().Match(segment);
            if (whole.Success)
            {
                var (name, optional, catchAll) = ParseParameter(whole.Groups[1].Value);
                var group = AddParameter(name);
                pattern.Append(catchAll
                    ? $"(?:/(?<{group}>.*))?"
                    : optional ? $"(?:/(?<{group}>[^/]+))?" : $"/(?<{group}>[^/]+)");
                continue;
            }

            LiteralSegments++;
            pattern.Append('/');
            var last = 0;
            foreach (Match parameter in EmbeddedParameter().Matches(segment))
            {
                pattern.Append(Regex.Escape(segment[last..parameter.Index]));
                var (name, _, _) = ParseParameter(parameter.Groups[1].Value);
                pattern.Append($"(?<{AddParameter(name)}>[^/]+?)");
                last = parameter.Index + parameter.Length;
            }

            pattern.Append(Regex.Escape(segment[last..]));
        }

        if (segments.Length == 0)
        {
            pattern.Append('/');
        }

        pattern.Append("/?$");
        regex = new Regex(pattern.ToString(), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
    }

    /// <summary>Literal segments, so that "items/new" is tried before "items/{id}".</summary>
    public int LiteralSegments { get; }

    public bool TryMatch(string path, out Dictionary<string, string> values)
    {
        values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var match = regex.Match(path);
        if (!match.Success)
        {
            return false;
        }

        for (var i = 0; i < parameterNames.Count; i++)
        {
            var group = match.Groups["p" + i];
            if (group.Success && group.Value.Length > 0)
            {
                values[parameterNames[i]] = group.Value;
            }
        }

        return true;
    }

    private string AddParameter(string name)
    {
        parameterNames.Add(name);
        return "p" + (parameterNames.Count - 1);
    }

    private static (string Name, bool Optional, bool CatchAll) ParseParameter(string inner)
    {
        var catchAll = inner.StartsWith('*');
        inner = inner.TrimStart('*');
        var optional = inner.EndsWith('?') || inner.Contains('=', StringComparison.Ordinal);
        var end = inner.IndexOfAny([':', '=', '?']);
        return (end < 0 ? inner : inner[..end], optional, catchAll);
    }

    [GeneratedRegex(@"^\{([^{}]+)\}$")]
    private static partial Regex WholeParameter();

    [GeneratedRegex(@"\{([^{}]+)\}")]
    private static partial Regex EmbeddedParameter();
}
