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
[JsonDerivedType(typeof(MixAudioAction), ActionTypes.MixAudio)]
[JsonDerivedType(typeof(SendSmsAction), ActionTypes.SendSms)]
public abstract record AiFlowAction
{
    /// <summary>Only the action records of this library derive from it: the wire format knows no others.</summary>
    /// <param name="type">The wire <c>type</c> (<see cref="ActionTypes"/>).</param>
    private protected AiFlowAction(string type) => Type = type;

    /// <summary>The wire <c>type</c>; written by the polymorphism metadata, so not a JSON property itself.</summary>
    [JsonIgnore]
    public string Type { get; }

    /// <summary>The <c>session.id</c> of the event being answered.</summary>
    [JsonPropertyName("session_id")]
    [JsonPropertyOrder(-1)]
    public required string SessionId { get; init; }
}

/// <summary>Hands the call to a speech-to-speech model (preview; gated per account).</summary>
public sealed record ConfigureVoiceToVoiceAction() : AiFlowAction(ActionTypes.ConfigureVoiceToVoice)
{
    /// <summary>Required: who the model is and how it behaves.</summary>
    [JsonPropertyName("system_prompt")]
    public required string SystemPrompt { get; init; }

    /// <summary>Spoken (as guidance, wording may vary) 1-2 s after the session is ready; omit for silence.</summary>
    [JsonPropertyName("greeting")]
    public string? Greeting { get; init; }

    /// <summary>0-2; the platform's default is 0.8.</summary>
    [JsonPropertyName("temperature")]
    public double? Temperature { get; init; }

    /// <summary>A response language hint such as "de" or "en".</summary>
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

    /// <summary>Words the transcriber should expect: at most 100 entries of at most 200 characters.</summary>
    [JsonPropertyName("custom_vocabulary")]
    public IReadOnlyList<string>? CustomVocabulary { get; init; }

    /// <summary>Voice activity detection.</summary>
    [JsonPropertyName("vad")]
    public VadSettings? Vad { get; init; }
}

/// <summary>Speaks a line with the pipeline's text-to-speech (in voice-to-voice mode: an instruction to the model).</summary>
public sealed record SpeakAction() : AiFlowAction(ActionTypes.Speak)
{
    /// <summary>Exactly one of <see cref="Text"/> and <see cref="Ssml"/>.</summary>
    [JsonPropertyName("text")]
    public string? Text { get; init; }

    /// <summary>SSML to speak instead of <see cref="Text"/>.</summary>
    [JsonPropertyName("ssml")]
    public string? Ssml { get; init; }

    /// <summary>The text-to-speech engine; omitted, the flow's default.</summary>
    [JsonPropertyName("tts")]
    public TtsSettings? Tts { get; init; }

    /// <summary>Whether and when the caller may interrupt the line; <c>{strategy: "none"}</c> protects it.</summary>
    [JsonPropertyName("barge_in")]
    public BargeInSettings? BargeIn { get; init; }

    /// <summary>
    /// Seconds to wait for the caller after the line before a <c>user_input_timeout</c> event; fractions allowed.
    /// 0 (or leaving it out) means no timeout.
    /// </summary>
    [JsonPropertyName("user_input_timeout_seconds")]
    public double? UserInputTimeoutSeconds { get; init; }

    /// <summary>Voice activity detection for the caller's answer to this line.</summary>
    [JsonPropertyName("vad")]
    public VadSettings? Vad { get; init; }
}

/// <summary>Plays a WAV recording to the caller.</summary>
public sealed record AudioAction() : AiFlowAction(ActionTypes.Audio)
{
    /// <summary>Base64 WAV, mono 16-bit PCM.</summary>
    [JsonPropertyName("audio")]
    public required string Audio { get; init; }

    /// <summary>Whether and when the caller may interrupt the recording.</summary>
    [JsonPropertyName("barge_in")]
    public BargeInSettings? BargeIn { get; init; }
}

/// <summary>Ends the call.</summary>
public sealed record HangupAction() : AiFlowAction(ActionTypes.Hangup);

/// <summary>Transfers the call to a phone number (e.g. a human agent).</summary>
public sealed record TransferAction() : AiFlowAction(ActionTypes.Transfer)
{
    /// <summary>Where the call goes.</summary>
    [JsonPropertyName("target_phone_number")]
    public required string TargetPhoneNumber { get; init; }

    /// <summary>The name shown to the one who answers.</summary>
    [JsonPropertyName("caller_id_name")]
    public required string CallerIdName { get; init; }

    /// <summary>The number shown to the one who answers (the flow's own number is the safe choice).</summary>
    [JsonPropertyName("caller_id_number")]
    public required string CallerIdNumber { get; init; }

    /// <summary>5-120 s. With it a failed transfer returns the call (session_start again); without it the call ends.</summary>
    [JsonPropertyName("timeout")]
    public int? Timeout { get; init; }
}

/// <summary>Stops current playback.</summary>
public sealed record BargeInAction() : AiFlowAction(ActionTypes.BargeIn);

/// <summary>
/// Starts, changes or stops a background sound loop mixed under the call (e.g. office noise or hold music).
/// </summary>
public sealed record MixAudioAction() : AiFlowAction(ActionTypes.MixAudio)
{
    /// <summary>Base64 WAV in the same format as <see cref="AudioAction.Audio"/>; required unless <see cref="Stop"/> is true.</summary>
    [JsonPropertyName("audio")]
    public string? Audio { get; init; }

    /// <summary>0.0-1.0; the platform's default is 0.5.</summary>
    [JsonPropertyName("volume")]
    public double? Volume { get; init; }

    /// <summary>True stops the background sound; no <see cref="Audio"/> needed then.</summary>
    [JsonPropertyName("stop")]
    public bool? Stop { get; init; }
}

/// <summary>
/// Sends an SMS to a phone number (enabled per account after review by sipgate). A failure comes back as
/// the event <see cref="SmsFailedEvent"/>.
/// </summary>
public sealed record SendSmsAction() : AiFlowAction(ActionTypes.SendSms)
{
    /// <summary>The recipient in E.164 digits, e.g. "4915112345678"; a leading "+" is stripped by the platform.</summary>
    [JsonPropertyName("phone_number")]
    public required string PhoneNumber { get; init; }

    /// <summary>The text of the SMS.</summary>
    [JsonPropertyName("message")]
    public required string Message { get; init; }
}

/// <summary>Which text-to-speech engine speaks a <see cref="SpeakAction"/>; omitted, the flow's default speaks.</summary>
public sealed record TtsSettings
{
    /// <summary>"azure" or "eleven_labs".</summary>
    [JsonPropertyName("provider")]
    public required string Provider { get; init; }

    /// <summary>Azure only, optional: a BCP-47 tag such as "de-DE".</summary>
    [JsonPropertyName("language")]
    public string? Language { get; init; }

    /// <summary>Optional: an Azure voice name (e.g. "en-US-JennyNeural") or an ElevenLabs voice id.</summary>
    [JsonPropertyName("voice")]
    public string? Voice { get; init; }
}

/// <summary>Whether and when the caller may interrupt a line or recording.</summary>
public sealed record BargeInSettings
{
    /// <summary>none, manual, minimum_characters or immediate.</summary>
    [JsonPropertyName("strategy")]
    public required string Strategy { get; init; }

    /// <summary>For minimum_characters: 1-100, default 3.</summary>
    [JsonPropertyName("minimum_characters")]
    public int? MinimumCharacters { get; init; }

    /// <summary>0-10000 ms after the line starts before barge-in is allowed; default 0.</summary>
    [JsonPropertyName("allow_after_ms")]
    public int? AllowAfterMs { get; init; }
}

/// <summary>Voice activity detection: when the caller's turn counts as finished.</summary>
public sealed record VadSettings
{
    /// <summary>
    /// Silence that ends the caller's turn, in milliseconds; 150-2000 recommended. The platform ignores an
    /// invalid value and processes the rest of the action.
    /// </summary>
    [JsonPropertyName("end_of_turn_silence_ms")]
    public int? EndOfTurnSilenceMs { get; init; }
}
