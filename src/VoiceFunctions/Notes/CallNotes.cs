using System.Text.Json.Serialization;

namespace VoiceFunctions.Notes;

/// <summary>Where a call's notes stand (<see cref="CallNotes.Status"/>).</summary>
public static class NotesStatus
{
    /// <summary>The call ended (or went silent) and its notes request is on the queue; not written yet.</summary>
    public const string Pending = "pending";

    /// <summary>Written: a later delivery of the same request changes nothing.</summary>
    public const string Written = "written";

    /// <summary>Given up (<see cref="CallNotes.Error"/> says why, without personal data): the model's output never fit, or the request was poisoned.</summary>
    public const string Failed = "failed";
}

/// <summary>What the notes were made from (<see cref="CallNotes.Source"/>).</summary>
public static class NotesSource
{
    public const string Model = "model";
    public const string Trace = "trace";
}

/// <summary>How a call ended, as the notes say it (<see cref="CallNotes.Outcome"/>).</summary>
public static class NotesOutcomes
{
    public const string Resolved = "resolved";
    public const string Escalated = "escalated";
    public const string Transferred = "transferred";
    public const string CallbackRequested = "callback_requested";
    public const string Abandoned = "abandoned";

    public static readonly IReadOnlyList<string> All = [Resolved, Escalated, Transferred, CallbackRequested, Abandoned];
}

/// <summary>The reason every persona has besides its own <c>Notes:Reasons</c>.</summary>
public static class NotesReasons
{
    public const string Other = "other";
}

/// <summary>
/// Why a notes request was made (<see cref="NotesRequest.Cause"/>): the call ended (<c>session_end</c>), or it was
/// silent longer than <c>Notes:IdleAfter</c> without one.
/// </summary>
public static class NotesCauses
{
    public const string Ended = "ended";
    public const string Idle = "idle";
}

/// <summary>
/// A call's notes, as stored (the <c>notes</c> row of the call's partition) and shown by <c>GET /api/sessions/{id}</c>.
/// Fields are absent when not known. <see cref="Summary"/>, <see cref="CallbackNumber"/> and <see cref="FollowUp"/>
/// are personal data: erased and purged with the call, in telemetry only with transcripts on.
/// </summary>
public sealed record CallNotes
{
    public required string Status { get; init; }
    public string? Source { get; init; }

    /// <summary>The model deployment that wrote them; null for notes from the trace alone.</summary>
    public string? Model { get; init; }

    /// <summary>
    /// Pending: when the request was queued. Written or failed: when the notes run had read the call's trace, before it
    /// asked the model (the model's own time, ~1-2 s, comes after it; docs/benchmarks.md measures both).
    /// </summary>
    public required DateTimeOffset At { get; init; }

    /// <summary>Why the request was made: <see cref="NotesCauses"/>.</summary>
    public string? Cause { get; init; }

    public string? Summary { get; init; }
    public string? Reason { get; init; }
    public string? Outcome { get; init; }
    public bool? CallbackRequested { get; init; }
    public string? CallbackNumber { get; init; }
    public string? FollowUp { get; init; }
    public long? DurationSeconds { get; init; }
    public int? Turns { get; init; }

    /// <summary>The keys the caller pressed, in order.</summary>
    public string? Keys { get; init; }
    public bool? Escalated { get; init; }
    public bool? Transferred { get; init; }
    public bool? HungUpInGreeting { get; init; }

    /// <summary>Why they failed (e.g. <c>schema:reason</c>, <c>model:timeout</c>, <c>poison</c>); never content.</summary>
    public string? Error { get; init; }

    /// <summary>When the receiver (<c>Notes:WebhookUrl</c>) acknowledged them; internal: the receiver is told once.</summary>
    [JsonIgnore]
    public DateTimeOffset? NotifiedAt { get; init; }

    /// <summary>Written or failed: nothing more is done for this call.</summary>
    [JsonIgnore]
    public bool IsFinal => Status is NotesStatus.Written or NotesStatus.Failed;
}

/// <summary>The message on the <c>call-notes</c> queue: UTF-8 JSON, base64-encoded on the queue (the host's default).</summary>
public sealed record NotesRequest
{
    public required string CallId { get; init; }
    public required string Cause { get; init; }
    public required DateTimeOffset At { get; init; }
}

/// <summary>The notes' JSON (snake_case, as the rest of the app's JSON), source-generated.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CallNotes))]
public sealed partial class NotesJsonContext : JsonSerializerContext;

/// <summary>The queue message's JSON: camelCase (<c>{"callId","cause","at"}</c>), the shape every notes helper shares.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(NotesRequest))]
public sealed partial class NotesRequestJsonContext : JsonSerializerContext;
