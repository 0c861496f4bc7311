using System.Globalization;
using System.Text;
using VoiceFunctions.AiFlow;

namespace VoiceFunctions.Telemetry;

/// <summary>
/// The one way a value that came with a request reaches a log line or a telemetry property: control characters
/// made visible and the length bounded, so a sender can neither forge log lines (newlines), drive a terminal (ANSI
/// escapes), reorder what an operator reads (bidi overrides) nor flood the logs. An unknown event type is never
/// written at all, only its shape (<see cref="UnknownEventType"/>): it is free text a stranger chose.
/// </summary>
public static class LogValues
{
    /// <summary>The longest request value written to a log line or property, in characters (before escaping).</summary>
    public const int MaxLength = 64;

    extension(AiFlowEvent evt)
    {
        /// <summary>What the event's type is logged as: the documented type, or <c>unknown</c> (never the sent text).</summary>
        public string LoggedType => evt is UnknownEvent ? "unknown" : evt.Type;
    }

    /// <summary>
    /// <paramref name="value"/> safe to log: at most <paramref name="maxLength"/> characters of it, each control,
    /// format (bidi, zero-width) or separator character and each lone surrogate written as <c>\uXXXX</c>, a
    /// backslash as <c>\\</c> (so an escape in the output is always one of ours), and what was cut said as <c>…(+N)</c>.
    /// </summary>
    public static string Text(string? value, int maxLength = MaxLength)
    {
        if (string.IsNullOrEmpty(value))
        {
            return value ?? string.Empty;
        }

        var kept = Math.Min(value.Length, Math.Max(0, maxLength));
        if (kept < value.Length && kept > 0 && char.IsHighSurrogate(value[kept - 1]))
        {
            kept--; // never cut a surrogate pair in half
        }

        var builder = new StringBuilder(kept + 16);
        for (var i = 0; i < kept; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                builder.Append(c).Append(value[++i]);
            }
            else if (c == '\\')
            {
                builder.Append(@"\\");
            }
            else if (NeedsEscape(c))
            {
                builder.Append(@"\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
            else
            {
                builder.Append(c);
            }
        }

        if (kept < value.Length)
        {
            builder.Append(CultureInfo.InvariantCulture, $"…(+{value.Length - kept})");
        }

        return builder.ToString();
    }

    /// <summary>
    /// C0, DEL and C1 controls (ESC starts an ANSI sequence, CSI is C1), format characters (bidi embeddings,
    /// overrides and isolates, zero-width characters, the BOM), line and paragraph separators, lone surrogates.
    /// </summary>
    private static bool NeedsEscape(char c) =>
        char.IsControl(c) || char.IsSurrogate(c) ||
        CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;

    /// <summary>
    /// An unknown event type described without its text: its length, whether it is shaped like a documented type
    /// (lower-case snake_case: sipgate probably added an event) and a keyed fingerprint (equal types match within
    /// the key's scope; the text cannot be recovered or guessed from it).
    /// </summary>
    public static (int Length, bool LooksLikeEventType, string Fingerprint) UnknownEventType(string type, TranscriptFingerprint fingerprint)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(fingerprint);
        var shaped = type.Length is > 0 and <= MaxLength && char.IsAsciiLetterLower(type[0]) &&
            type.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_');
        return (type.Length, shaped, fingerprint.Of(type));
    }
}
