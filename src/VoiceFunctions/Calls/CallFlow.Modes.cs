using VoiceFunctions.AiFlow;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>The actions that put the platform into a mode.</summary>
public sealed partial class CallFlow
{
    /// <summary>The actions that put the platform into <paramref name="mode"/>.</summary>
    public static IReadOnlyList<AiFlowAction> ModeActions(Persona persona, string sessionId, string mode, string? greeting)
    {
        ArgumentNullException.ThrowIfNull(persona);
        if (mode == SessionModes.VoiceToVoice)
        {
            return
            [
                new ConfigureVoiceToVoiceAction
                {
                    SessionId = sessionId,
                    SystemPrompt = persona.SystemPrompt!,
                    Greeting = string.IsNullOrWhiteSpace(greeting) ? null : greeting,
                    Temperature = persona.Temperature,
                    Language = persona.Language,
                },
            ];
        }

        var actions = new List<AiFlowAction> { Transcription(persona, sessionId) };
        if (!string.IsNullOrWhiteSpace(greeting))
        {
            actions.Add(new SpeakAction { SessionId = sessionId, Text = greeting });
        }

        return actions;
    }

    /// <summary>
    /// The pipeline's configuration with the persona's defaults filled in: it always names a provider, so it is
    /// never the documented field-less no-op and really switches a voice-to-voice session back.
    /// </summary>
    public static ConfigureTranscriptionAction Transcription(Persona persona, string sessionId)
    {
        ArgumentNullException.ThrowIfNull(persona);
        var pipeline = persona.Pipeline;
        return new ConfigureTranscriptionAction
        {
            SessionId = sessionId,
            Provider = PipelineDefaults.ProviderOf(persona),
            Languages = PipelineDefaults.LanguagesOf(persona),
            CustomVocabulary = pipeline.CustomVocabulary.Count == 0 ? null : pipeline.CustomVocabulary,
            Vad = pipeline.Vad.EndOfTurnSilenceMs is { } ms ? new VadSettings { EndOfTurnSilenceMs = ms } : null,
        };
    }
}
