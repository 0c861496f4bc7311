using System.Text.Json.Serialization;

namespace VoiceFunctions.AiFlow;

/// <summary>One event the platform POSTs to the webhook.</summary>
public abstract record AiFlowEvent
{
    /// <summary>Only the event records of this library derive from it.</summary>
    /// <param name="type">The wire <c>type</c> (<see cref="EventTypes"/>).</param>
    private protected AiFlowEvent(string type) => Type = type;

    /// <summary>Read-only: the parser dispatches on it before a concrete record is created.</summary>
    [JsonPropertyName("type")]
    [JsonPropertyOrder(-2)]
    public string Type { get; }

    /// <summary>The call this event belongs to.</summary>
    [JsonPropertyName("session")]
    [JsonPropertyOrder(-1)]
    public required AiFlowSession Session { get; init; }
}

/// <summary>A call started, or came back after a failed transfer with a timeout (same session id).</summary>
public sealed record SessionStartEvent() : AiFlowEvent(EventTypes.SessionStart);

/// <summary>The caller said something.</summary>
public sealed record UserSpeakEvent() : AiFlowEvent(EventTypes.UserSpeak)
{
    /// <summary>What the caller said; in voice-to-voice mode the speech model's own transcription.</summary>
    [JsonPropertyName("text")]
    public required string Text { get; init; }

    /// <summary>True when the caller interrupted the assistant.</summary>
    [JsonPropertyName("barged_in")]
    public bool? BargedIn { get; init; }
}

/// <summary>The assistant started speaking a line (some TTS models do not send it).</summary>
public sealed record AssistantSpeakEvent() : AiFlowEvent(EventTypes.AssistantSpeak)
{
    /// <summary>The line as text, when it was spoken from text.</summary>
    [JsonPropertyName("text")]
    public string? Text { get; init; }

    /// <summary>The line as SSML, when it was spoken from SSML.</summary>
    [JsonPropertyName("ssml")]
    public string? Ssml { get; init; }

    /// <summary>How long the line took to speak, in milliseconds: a JSON number (fractions and exponents allowed).</summary>
    [JsonPropertyName("duration_ms")]
    public double? DurationMs { get; init; }

    /// <summary>Unix time in milliseconds: documented as "number", so a fraction or an exponent is read, not refused.</summary>
    [JsonPropertyName("speech_started_at")]
    public double? SpeechStartedAt { get; init; }
}

/// <summary>The assistant finished speaking a line: the moment for what must follow it (e.g. a transfer).</summary>
public sealed record AssistantSpeechEndedEvent() : AiFlowEvent(EventTypes.AssistantSpeechEnded);

/// <summary>The caller stayed silent for a <c>speak</c>'s <c>user_input_timeout_seconds</c>.</summary>
public sealed record UserInputTimeoutEvent() : AiFlowEvent(EventTypes.UserInputTimeout);

/// <summary>The caller pressed a key.</summary>
public sealed record DtmfReceivedEvent() : AiFlowEvent(EventTypes.DtmfReceived)
{
    /// <summary>One key: "0"-"9", "*" or "#".</summary>
    [JsonPropertyName("digit")]
    public required string Digit { get; init; }
}

/// <summary>The call is over; no action may follow. Never refused over its optional fields.</summary>
public sealed record SessionEndEvent() : AiFlowEvent(EventTypes.SessionEnd)
{
    /// <summary>
    /// Why the call ended. Seen in sipgate's flow-io, not documented upstream: read when it is a string,
    /// ignored (null) when it is anything else.
    /// </summary>
    [JsonPropertyName("reason")]
    [JsonConverter(typeof(OptionalStringConverter))]
    public string? Reason { get; init; }

    /// <summary>
    /// When the call ended, as sent. Not documented upstream (flow-io types it as a string, numbers are seen too):
    /// a string or a number is kept as text, anything else is ignored.
    /// </summary>
    [JsonPropertyName("timestamp")]
    [JsonConverter(typeof(OptionalTextConverter))]
    public string? Timestamp { get; init; }
}

/// <summary>A <c>send_sms</c> action failed (the SMS was not sent).</summary>
public sealed record SmsFailedEvent() : AiFlowEvent(EventTypes.SmsFailed)
{
    /// <summary>Why the SMS failed, as the platform words it.</summary>
    [JsonPropertyName("reason")]
    public string? Reason { get; init; }
}

/// <summary>WebSocket transport only; accepted on HTTP for completeness.</summary>
public sealed record UserSpeechStartedEvent() : AiFlowEvent(EventTypes.UserSpeechStarted);

/// <summary>Legacy; superseded by <see cref="UserSpeakEvent.BargedIn"/>.</summary>
public sealed record UserBargeInEvent() : AiFlowEvent(EventTypes.UserBargeIn);

/// <summary>An event type this library does not know. It must never fail a call.</summary>
public sealed record UnknownEvent(string TypeName) : AiFlowEvent(TypeName);
