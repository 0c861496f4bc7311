namespace VoiceFunctions.AiFlow;

/// <summary>The documented values of an event's <c>type</c>.</summary>
public static class EventTypes
{
    /// <summary>A call started (or came back after a failed transfer with a timeout: same session id).</summary>
    public const string SessionStart = "session_start";

    /// <summary>The caller said something (<see cref="UserSpeakEvent"/>).</summary>
    public const string UserSpeak = "user_speak";

    /// <summary>The assistant started speaking a line (<see cref="AssistantSpeakEvent"/>).</summary>
    public const string AssistantSpeak = "assistant_speak";

    /// <summary>The assistant finished speaking a line.</summary>
    public const string AssistantSpeechEnded = "assistant_speech_ended";

    /// <summary>The caller stayed silent for a <c>speak</c>'s <c>user_input_timeout_seconds</c>.</summary>
    public const string UserInputTimeout = "user_input_timeout";

    /// <summary>The caller pressed a key (<see cref="DtmfReceivedEvent"/>).</summary>
    public const string DtmfReceived = "dtmf_received";

    /// <summary>The call is over; no action may answer it.</summary>
    public const string SessionEnd = "session_end";

    /// <summary>The caller started speaking (WebSocket transport only; the answer is ignored).</summary>
    public const string UserSpeechStarted = "user_speech_started";

    /// <summary>Legacy barge-in notice, superseded by <see cref="UserSpeakEvent.BargedIn"/>.</summary>
    public const string UserBargeIn = "user_barge_in";

    /// <summary>A <c>send_sms</c> action failed (<see cref="SmsFailedEvent"/>).</summary>
    public const string SmsFailed = "sms_failed";
}

/// <summary>The documented values of an action's <c>type</c>.</summary>
public static class ActionTypes
{
    /// <summary><see cref="ConfigureVoiceToVoiceAction"/>.</summary>
    public const string ConfigureVoiceToVoice = "configure_voice_to_voice";

    /// <summary><see cref="ConfigureTranscriptionAction"/>.</summary>
    public const string ConfigureTranscription = "configure_transcription";

    /// <summary><see cref="SpeakAction"/>.</summary>
    public const string Speak = "speak";

    /// <summary><see cref="AudioAction"/>.</summary>
    public const string Audio = "audio";

    /// <summary><see cref="HangupAction"/>.</summary>
    public const string Hangup = "hangup";

    /// <summary><see cref="TransferAction"/>.</summary>
    public const string Transfer = "transfer";

    /// <summary><see cref="BargeInAction"/>.</summary>
    public const string BargeIn = "barge_in";

    /// <summary><see cref="MixAudioAction"/>.</summary>
    public const string MixAudio = "mix_audio";

    /// <summary><see cref="SendSmsAction"/>.</summary>
    public const string SendSms = "send_sms";
}
