namespace VoiceFunctions.Sessions;

/// <summary>How the platform talks to the caller in a session.</summary>
public static class SessionModes
{
    /// <summary>A speech-to-speech model talks to the caller by itself.</summary>
    public const string VoiceToVoice = "voice_to_voice";

    /// <summary>The classic STT -> text -> TTS pipeline.</summary>
    public const string Pipeline = "pipeline";
}

/// <summary>Why a session's mode changed; stored with every change.</summary>
public static class ModeChangeReasons
{
    public const string SessionStart = "session_start";
    public const string AccessGate = "access_gate";
    public const string EscalationKeyword = "escalation_keyword";
    public const string EscalationDtmf = "escalation_dtmf";
    public const string TransferFailed = "transfer_failed";

    /// <summary>The chat model failed too often in a row (only recorded should the escalation change the mode).</summary>
    public const string EscalationModel = "escalation_model";

    /// <summary>An event arrived for a session this app never saw start (e.g. deployed mid-call).</summary>
    public const string Assumed = "assumed_without_session_start";
}

/// <summary>What one trace row records.</summary>
public static class TraceKinds
{
    public const string SessionStart = "session_start";
    public const string SessionResumed = "session_resumed";
    public const string Caller = "caller";
    public const string Assistant = "assistant";
    public const string AssistantSpeechEnded = "assistant_speech_ended";
    public const string Dtmf = "dtmf";
    public const string UserInputTimeout = "user_input_timeout";
    public const string UserSpeechStarted = "user_speech_started";
    public const string BargeIn = "barge_in";
    public const string Escalation = "escalation";
    public const string SmsFailed = "sms_failed";

    /// <summary>What the assistant answered on the pipeline (detail: its source — model, filler, apology — and :late / :overtaken).</summary>
    public const string AssistantReply = "assistant_reply";

    /// <summary>The chat model failed for a turn (detail: the error kind, never the text).</summary>
    public const string ModelFailed = "model_failed";

    /// <summary>Pending actions went out as this event's answer (detail: purpose and action types).</summary>
    public const string PendingDelivered = "pending_delivered";

    /// <summary>Pending actions were discarded unsent (detail: purpose and why).</summary>
    public const string PendingDropped = "pending_dropped";
    public const string SessionEnd = "session_end";
    public const string Unknown = "unknown_event";

    /// <summary>
    /// Storage refused this step's content for good (detail: its error code): the step's rows are stored without
    /// what came from the request. Not expected once <see cref="TableLimits"/> has fitted every row; a safety net.
    /// </summary>
    public const string Quarantined = "quarantined";
}

/// <summary>The session row: everything needed to answer the next event without reading the trace.</summary>
public sealed record SessionState
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

    /// <summary>Caller turns (user_speak events).</summary>
    public int TurnCount { get; init; }

    /// <summary>How often session_start arrived (more than once when failed transfers return the call).</summary>
    public int StartCount { get; init; }

    /// <summary>The last sequence number used by a trace or mode row: rows are ordered by it.</summary>
    public long LastSeq { get; init; }

    /// <summary>True between an escalation and the end of the call or a returned (failed) transfer.</summary>
    public bool Escalated { get; init; }

    /// <summary>Actions waiting for a later event of this call (the hand-off's transfer); null when none.</summary>
    public PendingActions? Pending { get; init; }

    /// <summary>Chat-model failures in a row on the pipeline; at the persona's limit the call is escalated.</summary>
    public int ModelFailures { get; init; }

    /// <summary>Fields of this row kept shortened, with their lengths as received (<see cref="ShortenedFields"/>); null when none.</summary>
    public string? Shortened { get; init; }

    public long? DurationMs => EndedAt is { } end ? (long)(end - StartedAt).TotalMilliseconds : null;
}

/// <summary>One row of the call trace: something said or done in the call.</summary>
public sealed record TraceEntry
{
    public required long Seq { get; init; }
    public required DateTimeOffset At { get; init; }
    public required string Kind { get; init; }

    /// <summary>The session's mode when this happened.</summary>
    public required string Mode { get; init; }

    /// <summary>Exactly as received (any Unicode).</summary>
    public string? Text { get; init; }
    public bool? BargedIn { get; init; }
    public string? Digit { get; init; }
    public double? DurationMs { get; init; }

    /// <summary>A short machine-readable note (event type of an unknown event, escalation trigger, end reason).</summary>
    public string? Detail { get; init; }

    /// <summary>On the row an event itself wrote: the id this instance gave the event (replay idempotency). Internal: not in JSON.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string? EventId { get; init; }

    /// <summary>Fields of this row kept shortened, with their lengths as received (<see cref="ShortenedFields"/>); null when none.</summary>
    public string? Shortened { get; init; }
}

/// <summary>One change of a session's mode, kept as history.</summary>
public sealed record ModeChange
{
    public required long Seq { get; init; }
    public required DateTimeOffset At { get; init; }
    public string? From { get; init; }
    public required string To { get; init; }
    public required string Reason { get; init; }
}
