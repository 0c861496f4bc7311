namespace VoiceFunctions.AiFlow;

/// <summary>
/// The values the protocol defines for event fields. The parser reads a field as sent (a string is a string, a
/// number a number); these say whether the value is one the protocol can mean, before a receiver acts on it or
/// keeps it.
/// </summary>
public static class EventValues
{
    /// <summary>The keys a <c>dtmf_received</c> <c>digit</c> may be: "0"-"9", "*" and "#", one key per event.</summary>
    public const string DtmfKeys = "0123456789*#";

    /// <summary>
    /// The longest <c>assistant_speak.duration_ms</c> taken as real: one hour (3,600,000 ms). No single spoken line
    /// comes near it; a larger value is a broken clock or a broken sender.
    /// </summary>
    public const double MaxDurationMs = 3_600_000;

    /// <summary>True when <paramref name="digit"/> is exactly one key of <see cref="DtmfKeys"/>.</summary>
    /// <param name="digit">A <c>dtmf_received</c> <c>digit</c> as sent.</param>
    public static bool IsDtmfKey(string? digit) => digit is { Length: 1 } && DtmfKeys.Contains(digit[0], StringComparison.Ordinal);

    /// <summary>True when <paramref name="milliseconds"/> is a duration the protocol can mean: finite, 0 to <see cref="MaxDurationMs"/>.</summary>
    /// <param name="milliseconds">A duration in milliseconds as sent, e.g. <see cref="AssistantSpeakEvent.DurationMs"/>.</param>
    public static bool IsDurationMs(double milliseconds) => double.IsFinite(milliseconds) && milliseconds is >= 0 and <= MaxDurationMs;
}
