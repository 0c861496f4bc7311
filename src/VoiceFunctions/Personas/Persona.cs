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

    /// <summary>The chat model that answers on the pipeline (issue 12); global defaults in section <c>ChatModel</c>.</summary>
    public ChatSettings Chat { get; set; } = new();

    /// <summary>The call's notes after it ends (issue 21): what callers may call about, and who is told.</summary>
    public NotesSettings Notes { get; set; } = new();
}

/// <summary>
/// Section <c>Personas:&lt;name&gt;:Notes</c>: the reasons the notes may give for a call (anything else is <c>other</c>)
/// and, optionally, a receiver the notes are POSTed to, signed with <see cref="WebhookSecret"/>.
/// </summary>
public sealed class NotesSettings
{
    /// <summary>Why people call this persona's number (e.g. <c>appointment</c>, <c>cancellation</c>); the model picks one, or <c>other</c>.</summary>
    public List<string> Reasons { get; set; } = [];

    /// <summary>An absolute https URL (http only to a loopback address) the notes are POSTed to; unset: nobody is told.</summary>
    public string? WebhookUrl { get; set; }

    /// <summary>The HMAC-SHA256 key of the webhook's signature (a Key Vault reference in Azure). A secret: never logged.</summary>
    public string? WebhookSecret { get; set; }
}

/// <summary>
/// How this persona answers through the chat model on the pipeline, where it differs from the global
/// <c>ChatModel</c> section. Voice-to-voice never uses it.
/// </summary>
public sealed class ChatSettings
{
    /// <summary>The Azure OpenAI deployment; unset: <c>ChatModel:Deployment</c>.</summary>
    public string? Deployment { get; set; }

    /// <summary>0-2; unset: the persona's <see cref="Persona.Temperature"/>, else the model's default.</summary>
    public double? Temperature { get; set; }

    /// <summary>Longest reply spoken, in characters (cut at a sentence end); unset: <c>ChatModel:MaxReplyChars</c>.</summary>
    public int? MaxReplyChars { get; set; }

    /// <summary>Spoken when the model has not answered within the response budget; its reply follows on the next quiet moment.</summary>
    public string FillerLine { get; set; } = "One moment, please.";

    /// <summary>Spoken when the model fails, times out or answers nothing usable; the call goes on.</summary>
    public string ApologyLine { get; set; } = "I am sorry, I could not answer that just now. Could you say it again?";

    /// <summary>Model failures in a row after which the call is escalated (transfer, or the no-agent line) instead of apologising again.</summary>
    public int MaxFailures { get; set; } = 3;
}

/// <summary>
/// The STT pipeline's configuration, sent as <c>configure_transcription</c> when a call starts on the pipeline
/// and when an escalation switches it back from voice-to-voice. Unset values get defaults from the persona
/// (<see cref="PipelineDefaults"/>), so that action is never the documented field-less no-op.
/// </summary>
public sealed class PipelineSettings
{
    /// <summary>AZURE, DEEPGRAM or ELEVEN_LABS; unset: <see cref="PipelineDefaults.Provider"/>.</summary>
    public string? Provider { get; set; }

    /// <summary>1-4 BCP-47 tags; empty: derived from the persona's <see cref="Persona.Language"/> (e.g. "de" → de-DE).</summary>
    public List<string> Languages { get; set; } = [];

    /// <summary>Words the transcriber should expect (names, products): at most 100 entries of at most 200 characters.</summary>
    public List<string> CustomVocabulary { get; set; } = [];

    /// <summary>Voice activity detection for the pipeline.</summary>
    public PipelineVadSettings Vad { get; set; } = new();
}

public sealed class PipelineVadSettings
{
    /// <summary>Silence that ends the caller's turn, in ms: positive, 150-2000 recommended; unset keeps the platform default.</summary>
    public int? EndOfTurnSilenceMs { get; set; }
}

/// <summary>What the pipeline is configured with where a persona leaves it open.</summary>
public static class PipelineDefaults
{
    /// <summary>The provider sent when none is configured: a switch back to the pipeline must name at least one field.</summary>
    public const string Provider = "AZURE";

    /// <summary>The usual region of a bare language hint, for the transcriber's BCP-47 tag.</summary>
    private static readonly Dictionary<string, string> Regions = new(StringComparer.OrdinalIgnoreCase)
    {
        ["de"] = "de-DE", ["en"] = "en-US", ["fr"] = "fr-FR", ["it"] = "it-IT", ["es"] = "es-ES", ["nl"] = "nl-NL",
        ["pt"] = "pt-PT", ["pl"] = "pl-PL", ["tr"] = "tr-TR", ["da"] = "da-DK", ["sv"] = "sv-SE", ["nb"] = "nb-NO",
        ["fi"] = "fi-FI", ["cs"] = "cs-CZ", ["ru"] = "ru-RU", ["uk"] = "uk-UA", ["el"] = "el-GR", ["hu"] = "hu-HU",
    };

    public static string ProviderOf(Persona persona)
    {
        ArgumentNullException.ThrowIfNull(persona);
        return string.IsNullOrWhiteSpace(persona.Pipeline.Provider) ? Provider : persona.Pipeline.Provider;
    }

    /// <summary>
    /// The configured languages; else the persona's language as a tag with a region ("de" → de-DE, "de-AT" as is);
    /// else null, which leaves the provider's own detection.
    /// </summary>
    public static IReadOnlyList<string>? LanguagesOf(Persona persona)
    {
        ArgumentNullException.ThrowIfNull(persona);
        if (persona.Pipeline.Languages.Count > 0)
        {
            return persona.Pipeline.Languages;
        }

        return persona.Language switch
        {
            null or "" => null,
            var tag when tag.Contains('-', StringComparison.Ordinal) => [tag],
            var tag when Regions.TryGetValue(tag, out var withRegion) => [withRegion],
            _ => null,
        };
    }
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

    /// <summary>
    /// Shown to the agent; defaults to the flow's own number (the dialled number of an inbound call), because the
    /// platform places the transfer from this flow. Never made up: with no number at all the escalation says
    /// <see cref="NoAgentLine"/> and hangs up.
    /// </summary>
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
