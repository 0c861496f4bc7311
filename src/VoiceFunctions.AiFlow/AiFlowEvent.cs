using System.Text.Json.Serialization;

namespace VoiceFunctions.AiFlow;

/// <summary>One event the platform POSTs to the webhook.</summary>
public abstract record AiFlowEvent
{
    protected AiFlowEvent(string type) => Type = type;

    /// <summary>Read-only: the parser dispatches on it before a concrete record is created.</summary>
    [JsonPropertyName("type")]
    [JsonPropertyOrder(-2)]
    public string Type { get; }

    [JsonPropertyName("session")]
    [JsonPropertyOrder(-1)]
    public required AiFlowSession Session { get; init; }
}

public sealed record SessionStartEvent() : AiFlowEvent(EventTypes.SessionStart);

public sealed record UserSpeakEvent() : AiFlowEvent(EventTypes.UserSpeak)
{
    /// <summary>What the caller said; in voice-to-voice mode the speech model's own transcription.</summary>
    [JsonPropertyName("text")]
    public required string Text { get; init; }

    [JsonPropertyName("barged_in")]
    public bool? BargedIn { get; init; }
}

public sealed record AssistantSpeakEvent() : AiFlowEvent(EventTypes.AssistantSpeak)
{
    [JsonPropertyName("text")]
    public string? Text { get; init; }

    [JsonPropertyName("ssml")]
    public string? Ssml { get; init; }

    [JsonPropertyName("duration_ms")]
    public double? DurationMs { get; init; }

    /// <summary>Unix time in milliseconds.</summary>
    [JsonPropertyName("speech_started_at")]
    public long? SpeechStartedAt { get; init; }
}

public sealed record AssistantSpeechEndedEvent() : AiFlowEvent(EventTypes.AssistantSpeechEnded);

public sealed record UserInputTimeoutEvent() : AiFlowEvent(EventTypes.UserInputTimeout);

public sealed record DtmfReceivedEvent() : AiFlowEvent(EventTypes.DtmfReceived)
{
    /// <summary>One key: "0"-"9", "*" or "#".</summary>
    [JsonPropertyName("digit")]
    public required string Digit { get; init; }
}

public sealed record SessionEndEvent() : AiFlowEvent(EventTypes.SessionEnd)
{
    /// <summary>Seen in sipgate's flow-io, not documented upstream.</summary>
    [JsonPropertyName("reason")]
    public string? Reason { get; init; }
}

/// <summary>WebSocket transport only; accepted on HTTP for completeness.</summary>
public sealed record UserSpeechStartedEvent() : AiFlowEvent(EventTypes.UserSpeechStarted);

/// <summary>Legacy; superseded by <see cref="UserSpeakEvent.BargedIn"/>.</summary>
public sealed record UserBargeInEvent() : AiFlowEvent(EventTypes.UserBargeIn);

/// <summary>An event type this library does not know. It must never fail a call.</summary>
public sealed record UnknownEvent(string TypeName) : AiFlowEvent(TypeName);
