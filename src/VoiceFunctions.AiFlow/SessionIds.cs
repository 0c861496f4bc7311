namespace VoiceFunctions.AiFlow;

/// <summary>Session ids are UUIDs; the canonical form is lower-case with hyphens.</summary>
public static class SessionIds
{
    /// <summary>True when <paramref name="id"/> is a UUID in the hyphenated form.</summary>
    /// <param name="id">The session id.</param>
    public static bool IsValid(string? id) => id is not null && Guid.TryParseExact(id, "D", out _);

    /// <summary>Canonical form, so "550E8400-…" and "550e8400-…" are one session.</summary>
    /// <param name="id">A valid session id.</param>
    public static string Canonical(string id) => Guid.ParseExact(id, "D").ToString("D");
}
