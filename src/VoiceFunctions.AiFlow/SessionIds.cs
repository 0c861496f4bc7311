namespace VoiceFunctions.AiFlow;

/// <summary>Session ids are UUIDs; the canonical form is lower-case with hyphens.</summary>
public static class SessionIds
{
    public static bool IsValid(string? id) => id is not null && Guid.TryParseExact(id, "D", out _);

    /// <summary>Canonical form, so "550E8400-…" and "550e8400-…" are one session.</summary>
    public static string Canonical(string id) => Guid.ParseExact(id, "D").ToString("D");
}
