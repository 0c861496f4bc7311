using System.Globalization;
using System.Text;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>The hand-off: escalation by keyword, key or model failures, and the number the transfer is placed from.</summary>
public sealed partial class CallFlow
{
    /// <summary>
    /// Back to the pipeline, the hand-off line (protected from barge-in), and the transfer or hang-up kept
    /// pending until that line has been spoken: the answer to its <c>assistant_speech_ended</c>, as flow-io does.
    /// Sending both in one answer could cut the line off. An escalated call does not escalate again.
    /// </summary>
    private static void Escalate(StepBuilder step, Persona persona, string reason, string trigger)
    {
        if (step.State.Escalated)
        {
            return; // the hand-off is under way (pending, or the transfer is already with the platform)
        }

        var sessionId = step.State.SessionId;
        step.Append(TraceKinds.Escalation, detail: trigger);
        if (step.State.Mode == SessionModes.VoiceToVoice)
        {
            step.Actions.Add(Transcription(persona, sessionId));
            step.ChangeMode(SessionModes.VoiceToVoice, SessionModes.Pipeline, reason);
        }

        var escalation = persona.Escalation;
        var callerId = FirstNonBlank(escalation.CallerIdNumber, FlowNumber(step.State));
        AiFlowAction last;
        string line;
        if (escalation.TransferTarget is { } target && callerId is not null)
        {
            line = escalation.HandoffLine;
            last = new TransferAction
            {
                SessionId = sessionId,
                TargetPhoneNumber = target,
                CallerIdName = escalation.CallerIdName ?? persona.Name,
                CallerIdNumber = callerId,
                Timeout = escalation.TransferTimeoutSeconds,
            };
        }
        else
        {
            // No agents, or no number to place the transfer from: a polite goodbye rather than an invented caller id.
            line = escalation.NoAgentLine;
            last = new HangupAction { SessionId = sessionId };
        }

        step.Actions.Add(new SpeakAction { SessionId = sessionId, Text = line, BargeIn = new BargeInSettings { Strategy = "none" } });
        step.State = step.State with { Escalated = true, Pending = PendingActions.Handoff([last], step.Now) };
    }

    /// <summary>
    /// The flow's own number, which the transfer is placed from: for an inbound call the dialled number
    /// (<c>to_phone_number</c>, else the flow's <c>phone_number</c>); for an outbound call <c>phone_number</c>, else
    /// <c>from_phone_number</c>. Null when the events carried none.
    /// </summary>
    public static string? FlowNumber(SessionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return string.Equals(state.Direction, "outbound", StringComparison.OrdinalIgnoreCase)
            ? FirstNonBlank(state.PhoneNumber, state.FromPhoneNumber)
            : FirstNonBlank(state.ToPhoneNumber, state.PhoneNumber);
    }

    private static string? FirstNonBlank(params string?[] values) => values.FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));

    /// <summary>The first configured keyword the caller said as whole words, ignoring case and punctuation.</summary>
    public static string? MatchKeyword(EscalationSettings escalation, string text)
    {
        ArgumentNullException.ThrowIfNull(escalation);
        if (escalation.Keywords.Count == 0 || string.IsNullOrEmpty(text))
        {
            return null;
        }

        var said = NormalizeWords(text);
        return escalation.Keywords.FirstOrDefault(k => said.Contains(NormalizeWords(k), StringComparison.Ordinal));
    }

    /// <summary>" word word " in lower case with punctuation as spaces, so a substring test matches whole words.</summary>
    private static string NormalizeWords(string text)
    {
        var builder = new StringBuilder(text.Length + 2).Append(' ');
        var lastWasSpace = true;
        foreach (var c in text.Normalize(NormalizationForm.FormC))
        {
            if (char.IsLetterOrDigit(c))
            {
                builder.Append(char.ToLower(c, CultureInfo.InvariantCulture));
                lastWasSpace = false;
            }
            else if (!lastWasSpace)
            {
                builder.Append(' ');
                lastWasSpace = true;
            }
        }

        if (!lastWasSpace)
        {
            builder.Append(' ');
        }

        return builder.ToString();
    }
}
