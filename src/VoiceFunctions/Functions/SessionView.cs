using System.Text.Json.Serialization;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Functions;

/// <summary>The operator's view of one call: its first page (the trace's first rows; <see cref="Next"/> names the rest).</summary>
public sealed record SessionView
{
    public required string SessionId { get; init; }
    public string? AccountId { get; init; }
    public string? PhoneNumber { get; init; }
    public string? FromPhoneNumber { get; init; }
    public string? ToPhoneNumber { get; init; }
    public string? Direction { get; init; }
    public required string Persona { get; init; }
    public required string Mode { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? EndedAt { get; init; }
    public string? EndReason { get; init; }
    public long? DurationMs { get; init; }
    public int TurnCount { get; init; }
    public int StartCount { get; init; }
    public bool Escalated { get; init; }

    /// <summary>Session fields stored shortened (to fit, or cut as implausibly long), with their lengths as received: <c>account_id:40000</c>.</summary>
    public string? Shortened { get; init; }
    public required IReadOnlyList<ModeChange> ModeHistory { get; init; }

    /// <summary>
    /// The call's notes (issue 21): <c>pending</c> from the moment its end is stored and its request queued, then
    /// <c>written</c> or <c>failed</c>. Absent while the call goes on, with notes switched off, or for a call ended before
    /// the notes existed and not yet swept.
    /// </summary>
    public Notes.CallNotes? Notes { get; init; }
    public required IReadOnlyList<TraceEntry> Trace { get; init; }

    /// <summary>The continuation token of the next page; absent on the last.</summary>
    public string? Next { get; init; }

    public static SessionView From(SessionHead head, TracePage page)
    {
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(page);
        var s = head.State;
        return new SessionView
        {
            SessionId = s.SessionId,
            AccountId = s.AccountId,
            PhoneNumber = s.PhoneNumber,
            FromPhoneNumber = s.FromPhoneNumber,
            ToPhoneNumber = s.ToPhoneNumber,
            Direction = s.Direction,
            Persona = s.Persona,
            Mode = s.Mode,
            StartedAt = s.StartedAt,
            EndedAt = s.EndedAt,
            EndReason = s.EndReason,
            DurationMs = s.DurationMs,
            TurnCount = s.TurnCount,
            StartCount = s.StartCount,
            Escalated = s.Escalated,
            Shortened = s.Shortened,
            ModeHistory = head.ModeHistory,
            Notes = head.Notes,
            Trace = page.Rows,
            Next = SessionTracePage.NextOf(page),
        };
    }
}

/// <summary>A later page of a call: the trace rows after the continuation token, and the token of the page after.</summary>
public sealed record SessionTracePage
{
    public required string SessionId { get; init; }
    public required IReadOnlyList<TraceEntry> Trace { get; init; }
    public string? Next { get; init; }

    public static SessionTracePage From(string sessionId, TracePage page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return new SessionTracePage { SessionId = sessionId, Trace = page.Rows, Next = NextOf(page) };
    }

    internal static string? NextOf(TracePage page) => page.More && page.Rows.Count > 0 ? SessionPaging.ContinuationAfter(page.Rows[^1].Seq) : null;
}

/// <summary>The app's own JSON (snake_case like the AI Flow protocol), source-generated.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SessionView))]
[JsonSerializable(typeof(SessionTracePage))]
public sealed partial class AppJsonContext : JsonSerializerContext
{
    /// <summary>Relaxed escaping: an API for tools, not HTML, so caller text reads as spoken.</summary>
    /// <remarks>Lazy: static initializers across partial declarations run in no defined order.</remarks>
    public static AppJsonContext Relaxed => s_relaxed ??= new(new System.Text.Json.JsonSerializerOptions(Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    private static AppJsonContext? s_relaxed;
}
