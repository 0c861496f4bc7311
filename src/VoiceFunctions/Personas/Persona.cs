namespace VoiceFunctions.Personas;

/// <summary>
/// Who the voice assistant is for one dialled number: configuration section <c>Personas:&lt;name&gt;</c>
/// (env <c>Personas__&lt;name&gt;__SystemPrompt</c> …). The persona named <c>default</c> answers every
/// number no other persona lists.
/// </summary>
public sealed class Persona
{
    /// <summary>Filled from the configuration key, not from a property.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>Dialled numbers this persona answers; compared by digits only, so "+49…" and "49…" match.</summary>
    public List<string> PhoneNumbers { get; set; } = [];

    public string? SystemPrompt { get; set; }

    public string? Greeting { get; set; }

    /// <summary>0-2; null leaves the platform's default (0.8).</summary>
    public double? Temperature { get; set; }

    /// <summary>Response language hint such as "de" or "en".</summary>
    public string? Language { get; set; }

    /// <summary>
    /// The access gate: voice-to-voice is enabled per sipgate account. Set false where it is not;
    /// the call then runs on the classic pipeline (configure_transcription + speak greeting).
    /// </summary>
    public bool VoiceToVoice { get; set; } = true;

    /// <summary>What the pipeline is configured with when a call is switched (back) to it.</summary>
    public PipelineSettings Pipeline { get; set; } = new();

    public EscalationSettings Escalation { get; set; } = new();
}

public sealed class PipelineSettings
{
    /// <summary>AZURE, DEEPGRAM or ELEVEN_LABS; null keeps the platform default.</summary>
    public string? Provider { get; set; }

    /// <summary>1-4 BCP-47 tags; empty keeps the platform default.</summary>
    public List<string> Languages { get; set; } = [];
}

/// <summary>"Give me a human": what the caller says or presses, and where the call goes then.</summary>
public sealed class EscalationSettings
{
    /// <summary>Each character is one DTMF key that escalates, e.g. "0" or "0#".</summary>
    public string? DtmfDigits { get; set; }

    /// <summary>Words or phrases that escalate when the caller says them (case- and punctuation-insensitive, whole words).</summary>
    public List<string> Keywords { get; set; } = [];

    /// <summary>Spoken (by the pipeline's TTS) before the transfer or hang-up.</summary>
    public string HandoffLine { get; set; } = "One moment please, I am connecting you with a colleague.";

    /// <summary>Spoken before hanging up when no transfer target is configured.</summary>
    public string NoAgentLine { get; set; } = "I am sorry, nobody is available to take your call right now. Please call again later. Goodbye.";

    /// <summary>Where a human answers; without it an escalation ends the call politely.</summary>
    public string? TransferTarget { get; set; }

    /// <summary>Shown to the agent; defaults to the persona's name.</summary>
    public string? CallerIdName { get; set; }

    /// <summary>Shown to the agent; defaults to the caller's number, else the dialled number.</summary>
    public string? CallerIdNumber { get; set; }

    /// <summary>
    /// 5-120 s. With a timeout a failed transfer returns the call (session_start again), so the caller is
    /// not dropped; null lets a failed transfer end the call.
    /// </summary>
    public int? TransferTimeoutSeconds { get; set; } = 30;

    /// <summary>The greeting the voice model speaks when a failed transfer returns the caller to it.</summary>
    public string TransferFailedGreeting { get; set; } = "I am sorry, my colleagues are all busy right now. Can I help you in the meantime?";

    public bool IsConfigured => !string.IsNullOrEmpty(DtmfDigits) || Keywords.Count > 0;
}
