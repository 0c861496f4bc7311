using System.Text.Json.Serialization;

namespace VoiceFunctions.AiFlow;

/// <summary>One action the webhook answers with. Serialized with <c>type</c> first, then <c>session_id</c>.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type", UnknownDerivedTypeHandling = JsonUnknownDerivedTypeHandling.FailSerialization)]
[JsonDerivedType(typeof(ConfigureVoiceToVoiceAction), ActionTypes.ConfigureVoiceToVoice)]
[JsonDerivedType(typeof(ConfigureTranscriptionAction), ActionTypes.ConfigureTranscription)]
[JsonDerivedType(typeof(SpeakAction), ActionTypes.Speak)]
[JsonDerivedType(typeof(AudioAction), ActionTypes.Audio)]
[JsonDerivedType(typeof(HangupAction), ActionTypes.Hangup)]
[JsonDerivedType(typeof(TransferAction), ActionTypes.Transfer)]
[JsonDerivedType(typeof(BargeInAction), ActionTypes.BargeIn)]
public abstract record AiFlowAction
{
    protected AiFlowAction(string type) => Type = type;

    /// <summary>The wire <c>type</c>; written by the polymorphism metadata, so not a JSON property itself.</summary>
    [JsonIgnore]
    public string Type { get; }

    [JsonPropertyName("session_id")]
    public required string SessionId { get; init; }
}

/// <summary>Hands the call to a speech-to-speech model (preview; gated per account).</summary>
public sealed record ConfigureVoiceToVoiceAction() : AiFlowAction(ActionTypes.ConfigureVoiceToVoice)
{
    [JsonPropertyName("system_prompt")]
    public required string SystemPrompt { get; init; }

    [JsonPropertyName("greeting")]
    public string? Greeting { get; init; }

    /// <summary>0-2; the platform's default is 0.8.</summary>
    [JsonPropertyName("temperature")]
    public double? Temperature { get; init; }

    [JsonPropertyName("language")]
    public string? Language { get; init; }
}

/// <summary>Configures STT; also switches a session back from voice-to-voice to the pipeline. Full-replace semantics.</summary>
public sealed record ConfigureTranscriptionAction() : AiFlowAction(ActionTypes.ConfigureTranscription)
{
    /// <summary>AZURE, DEEPGRAM or ELEVEN_LABS.</summary>
    [JsonPropertyName("provider")]
    public string? Provider { get; init; }

    /// <summary>1-4 BCP-47 tags.</summary>
    [JsonPropertyName("languages")]
    public IReadOnlyList<string>? Languages { get; init; }

    [JsonPropertyName("custom_vocabulary")]
    public IReadOnlyList<string>? CustomVocabulary { get; init; }

    [JsonPropertyName("vad")]
    public VadSettings? Vad { get; init; }
}

public sealed record SpeakAction() : AiFlowAction(ActionTypes.Speak)
{
    /// <summary>Exactly one of <see cref="Text"/> and <see cref="Ssml"/>.</summary>
    [JsonPropertyName("text")]
    public string? Text { get; init; }

    [JsonPropertyName("ssml")]
    public string? Ssml { get; init; }

    [JsonPropertyName("tts")]
    public TtsSettings? Tts { get; init; }

    [JsonPropertyName("barge_in")]
    public BargeInSettings? BargeIn { get; init; }

    [JsonPropertyName("user_input_timeout_seconds")]
    public double? UserInputTimeoutSeconds { get; init; }

    [JsonPropertyName("vad")]
    public VadSettings? Vad { get; init; }
}

public sealed record AudioAction() : AiFlowAction(ActionTypes.Audio)
{
    /// <summary>Base64 WAV, mono 16-bit PCM.</summary>
    [JsonPropertyName("audio")]
    public required string Audio { get; init; }

    [JsonPropertyName("barge_in")]
    public BargeInSettings? BargeIn { get; init; }
}

public sealed record HangupAction() : AiFlowAction(ActionTypes.Hangup);

public sealed record TransferAction() : AiFlowAction(ActionTypes.Transfer)
{
    [JsonPropertyName("target_phone_number")]
    public required string TargetPhoneNumber { get; init; }

    [JsonPropertyName("caller_id_name")]
    public required string CallerIdName { get; init; }

    [JsonPropertyName("caller_id_number")]
    public required string CallerIdNumber { get; init; }

    /// <summary>5-120 s. With it a failed transfer returns the call (session_start again); without it the call ends.</summary>
    [JsonPropertyName("timeout")]
    public int? Timeout { get; init; }
}

/// <summary>Stops current playback.</summary>
public sealed record BargeInAction() : AiFlowAction(ActionTypes.BargeIn);

public sealed record TtsSettings
{
    /// <summary>"azure" or "eleven_labs".</summary>
    [JsonPropertyName("provider")]
    public required string Provider { get; init; }

    [JsonPropertyName("language")]
    public string? Language { get; init; }

    [JsonPropertyName("voice")]
    public string? Voice { get; init; }
}

public sealed record BargeInSettings
{
    /// <summary>none, manual, minimum_characters or immediate.</summary>
    [JsonPropertyName("strategy")]
    public required string Strategy { get; init; }

    [JsonPropertyName("minimum_characters")]
    public int? MinimumCharacters { get; init; }

    [JsonPropertyName("allow_after_ms")]
    public int? AllowAfterMs { get; init; }
}

public sealed record VadSettings
{
    [JsonPropertyName("end_of_turn_silence_ms")]
    public int? EndOfTurnSilenceMs { get; init; }
}
