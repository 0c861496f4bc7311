using System.Text;
using System.Text.RegularExpressions;

namespace VoiceFunctions.Chat;

/// <summary>
/// Makes a model answer fit a voice: the prompt asks for plain text, but a model may still write markdown,
/// which the TTS would read out ("asterisk asterisk"). Strips it, joins lines and cuts at a sentence end.
/// </summary>
public static partial class Speakable
{
    public static string Clean(string? text, int maxChars)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return string.Empty;
        }

        var s = CodeFence().Replace(text, " ");
        s = Link().Replace(s, "$1");
        s = Url().Replace(s, " ");
        // Lines (headings, list items) become sentences, so the voice pauses between them.
        var lines = s.Split('\n').Select(line => ListMarker().Replace(Heading().Replace(line.Trim(), string.Empty), string.Empty).Trim()).Where(l => l.Length > 0).ToList();
        s = string.Join(' ', lines.Select((l, i) => i == lines.Count - 1 || l.EndsWith('.') || l.EndsWith('!') || l.EndsWith('?') || l.EndsWith(':') || l.EndsWith(',') ? l : l + "."));
        s = Emphasis().Replace(s, string.Empty);
        s = Whitespace().Replace(s, " ").Trim();
        return Cut(s, maxChars);
    }

    /// <summary>At most <paramref name="maxChars"/>, ending at the last sentence end that fits (else a word end).</summary>
    private static string Cut(string s, int maxChars)
    {
        if (s.Length <= maxChars)
        {
            return s;
        }

        var head = s[..maxChars];
        var end = head.LastIndexOfAny(['.', '!', '?']);
        if (end >= maxChars / 3)
        {
            return head[..(end + 1)];
        }

        var space = head.LastIndexOf(' ');
        return new StringBuilder(space > 0 ? head[..space] : head).Append('.').ToString();
    }

    [GeneratedRegex(@"```[^`]*```|`", RegexOptions.CultureInvariant)]
    private static partial Regex CodeFence();

    [GeneratedRegex(@"!?\[([^\]]*)\]\([^)]*\)", RegexOptions.CultureInvariant)]
    private static partial Regex Link();

    [GeneratedRegex(@"https?://\S+", RegexOptions.CultureInvariant)]
    private static partial Regex Url();

    [GeneratedRegex(@"^#{1,6}\s*", RegexOptions.CultureInvariant)]
    private static partial Regex Heading();

    [GeneratedRegex(@"^([-*+•]|\d+[.)])\s+", RegexOptions.CultureInvariant)]
    private static partial Regex ListMarker();

    [GeneratedRegex(@"\*{1,3}|_{2,3}|~~|\|", RegexOptions.CultureInvariant)]
    private static partial Regex Emphasis();

    [GeneratedRegex(@"\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Whitespace();
}
