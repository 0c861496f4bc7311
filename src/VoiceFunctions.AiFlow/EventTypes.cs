namespace VoiceFunctions.AiFlow;

/// <summary>The documented values of an event's <c>type</c>.</summary>
public static class EventTypes
{
    public const string SessionStart = "session_start";
    public const string UserSpeak = "user_speak";
    public const string AssistantSpeak = "assistant_speak";
    public const string AssistantSpeechEnded = "assistant_speech_ended";
    public const string UserInputTimeout = "user_input_timeout";
    public const string DtmfReceived = "dtmf_received";
    public const string SessionEnd = "session_end";
    public const string UserSpeechStarted = "user_speech_started";
    public const string UserBargeIn = "user_barge_in";
    public const string SmsFailed = "sms_failed";
}

/// <summary>The documented values of an action's <c>type</c>.</summary>
public static class ActionTypes
{
    public const string ConfigureVoiceToVoice = "configure_voice_to_voice";
    public const string ConfigureTranscription = "configure_transcription";
    public const string Speak = "speak";
    public const string Audio = "audio";
    public const string Hangup = "hangup";
    public const string Transfer = "transfer";
    public const string BargeIn = "barge_in";
    public const string MixAudio = "mix_audio";
    public const string SendSms = "send_sms";
}
