using System.Globalization;
using System.Text;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>What one event does to a call: the answer, the new session state and the rows to append.</summary>
public sealed record CallStep
{
    public required SessionState? Previous { get; init; }

    /// <summary>Null when the event changes nothing that is stored (unknown event types).</summary>
    public required SessionState? Next { get; init; }

    public required IReadOnlyList<AiFlowAction> Actions { get; init; }
    public IReadOnlyList<TraceEntry> Trace { get; init; } = [];
    public IReadOnlyList<ModeChange> ModeChanges { get; init; } = [];

    public bool IsNewSession => Previous is null && Next is not null;
    public bool WritesNothing => Next is null;
}

/// <summary>
/// The call's decisions, free of I/O: given the stored session (or none) and one event, what to answer
/// and what to record. Deterministic for a given clock value, so it is unit-tested directly.
/// </summary>
public sealed class CallFlow(PersonaCatalog personas)
{
    public CallStep Decide(SessionState? current, AiFlowEvent evt, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (evt is UnknownEvent)
        {
            // Unknown types must never fail a call; they are logged by the endpoint, not stored.
            return new CallStep { Previous = current, Next = null, Actions = [] };
        }

        var step = new StepBuilder(current, now);
        if (current is not null)
        {
            step.State = current;
        }

        var persona = current is null ? personas.ForSession(evt.Session) : personas.ByName(current.Persona);
        step.State = current is null ? NewSession(step, persona, evt) : WithSessionFields(current, evt.Session);
        var sessionId = step.State.SessionId;

        switch (evt)
        {
            case SessionStartEvent when current is null:
                step.Append(TraceKinds.SessionStart);
                step.State = step.State with { StartCount = 1 };
                step.Actions.AddRange(ModeActions(persona, sessionId, step.State.Mode, persona.Greeting));
                break;

            case SessionStartEvent:
                // The platform re-sends session_start when a transfer with a timeout fails: nothing is reset.
                step.State = step.State with { StartCount = step.State.StartCount + 1 };
                step.Append(TraceKinds.SessionResumed, detail: step.State.Escalated ? "transfer_failed" : null);
                Resume(step, persona, sessionId);
                break;

            case UserSpeakEvent speak:
                step.State = step.State with { TurnCount = step.State.TurnCount + 1 };
                step.Append(TraceKinds.Caller, text: speak.Text, bargedIn: speak.BargedIn);
                if (MatchKeyword(persona.Escalation, speak.Text) is { } keyword)
                {
                    Escalate(step, persona, evt.Session, ModeChangeReasons.EscalationKeyword, $"keyword:{keyword}");
                }

                break;

            case DtmfReceivedEvent dtmf:
                step.Append(TraceKinds.Dtmf, digit: dtmf.Digit);
                if (persona.Escalation.DtmfDigits is { Length: > 0 } digits && dtmf.Digit.Length == 1 && digits.Contains(dtmf.Digit, StringComparison.Ordinal))
                {
                    Escalate(step, persona, evt.Session, ModeChangeReasons.EscalationDtmf, $"dtmf:{dtmf.Digit}");
                }

                break;

            case AssistantSpeakEvent said:
                step.Append(TraceKinds.Assistant, text: said.Text ?? said.Ssml, durationMs: said.DurationMs);
                break;

            case AssistantSpeechEndedEvent:
                step.Append(TraceKinds.AssistantSpeechEnded);
                break;

            case UserInputTimeoutEvent:
                step.Append(TraceKinds.UserInputTimeout);
                break;

            case UserSpeechStartedEvent:
                step.Append(TraceKinds.UserSpeechStarted);
                break;

            case UserBargeInEvent:
                step.Append(TraceKinds.BargeIn);
                break;

            case SessionEndEvent end:
                // Never an action: the platform allows none after session_end.
                step.State = step.State with { EndedAt = now, EndReason = end.Reason };
                step.Append(TraceKinds.SessionEnd, detail: end.Reason);
                break;
        }

        return step.Build();
    }

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

    private static ConfigureTranscriptionAction Transcription(Persona persona, string sessionId) => new()
    {
        SessionId = sessionId,
        Provider = persona.Pipeline.Provider,
        Languages = persona.Pipeline.Languages.Count == 0 ? null : persona.Pipeline.Languages,
    };

    private static SessionState NewSession(StepBuilder step, Persona persona, AiFlowEvent evt)
    {
        var mode = persona.VoiceToVoice ? SessionModes.VoiceToVoice : SessionModes.Pipeline;
        var reason = evt is not SessionStartEvent ? ModeChangeReasons.Assumed
            : persona.VoiceToVoice ? ModeChangeReasons.SessionStart
            : ModeChangeReasons.AccessGate;
        var state = new SessionState
        {
            SessionId = SessionIds.Canonical(evt.Session.Id),
            Persona = persona.Name,
            Mode = mode,
            StartedAt = step.Now,
        };
        state = WithSessionFields(state, evt.Session);
        step.State = state;
        step.ChangeMode(null, mode, reason);
        return step.State;
    }

    /// <summary>Fills numbers a later event knows and an earlier one did not; never overwrites.</summary>
    private static SessionState WithSessionFields(SessionState state, AiFlowSession session) => state with
    {
        AccountId = state.AccountId ?? session.AccountId,
        PhoneNumber = state.PhoneNumber ?? session.PhoneNumber,
        FromPhoneNumber = state.FromPhoneNumber ?? session.FromPhoneNumber,
        ToPhoneNumber = state.ToPhoneNumber ?? session.ToPhoneNumber,
        Direction = state.Direction ?? session.Direction,
    };

    private static void Resume(StepBuilder step, Persona persona, string sessionId)
    {
        if (step.State.Escalated)
        {
            // The transfer failed and the caller is back: hand them to the assistant again instead of
            // leaving them in a pipeline that nobody drives.
            step.State = step.State with { Escalated = false };
            var mode = persona.VoiceToVoice ? SessionModes.VoiceToVoice : SessionModes.Pipeline;
            step.ChangeMode(step.State.Mode, mode, ModeChangeReasons.TransferFailed);
            step.Actions.AddRange(ModeActions(persona, sessionId, mode, persona.Escalation.TransferFailedGreeting));
            return;
        }

        // Re-assert the recorded mode; the greeting was already spoken.
        step.Actions.AddRange(ModeActions(persona, sessionId, step.State.Mode, greeting: null));
    }

    private static void Escalate(StepBuilder step, Persona persona, AiFlowSession session, string reason, string trigger)
    {
        var sessionId = step.State.SessionId;
        step.Append(TraceKinds.Escalation, detail: trigger);
        if (step.State.Mode == SessionModes.VoiceToVoice)
        {
            step.Actions.Add(Transcription(persona, sessionId));
            step.ChangeMode(SessionModes.VoiceToVoice, SessionModes.Pipeline, reason);
        }

        step.State = step.State with { Escalated = true };
        var escalation = persona.Escalation;
        if (escalation.TransferTarget is { } target)
        {
            step.Actions.Add(new SpeakAction { SessionId = sessionId, Text = escalation.HandoffLine });
            step.Actions.Add(new TransferAction
            {
                SessionId = sessionId,
                TargetPhoneNumber = target,
                CallerIdName = escalation.CallerIdName ?? persona.Name,
                CallerIdNumber = FirstNonBlank(escalation.CallerIdNumber, step.State.FromPhoneNumber, session.CalledNumber) ?? "anonymous",
                Timeout = escalation.TransferTimeoutSeconds,
            });
        }
        else
        {
            step.Actions.Add(new SpeakAction { SessionId = sessionId, Text = escalation.NoAgentLine });
            step.Actions.Add(new HangupAction { SessionId = sessionId });
        }
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

    private sealed class StepBuilder(SessionState? previous, DateTimeOffset now)
    {
        private readonly List<TraceEntry> _trace = [];
        private readonly List<ModeChange> _modes = [];

        public DateTimeOffset Now => now;

        /// <summary>Null only until a new session's state is created.</summary>
        public SessionState State { get; set; } = null!;
        public List<AiFlowAction> Actions { get; } = [];

        public void Append(string kind, string? text = null, bool? bargedIn = null, string? digit = null, double? durationMs = null, string? detail = null)
        {
            var seq = NextSeq();
            _trace.Add(new TraceEntry
            {
                Seq = seq,
                At = Now,
                Kind = kind,
                Mode = State.Mode,
                Text = text,
                BargedIn = bargedIn,
                Digit = digit,
                DurationMs = durationMs,
                Detail = detail,
            });
        }

        public void ChangeMode(string? from, string to, string reason)
        {
            if (from == to)
            {
                return;
            }

            var seq = NextSeq();
            _modes.Add(new ModeChange { Seq = seq, At = Now, From = from, To = to, Reason = reason });
            State = State with { Mode = to };
        }

        private long NextSeq()
        {
            var seq = State.LastSeq + 1;
            State = State with { LastSeq = seq };
            return seq;
        }

        public CallStep Build() => new()
        {
            Previous = previous,
            Next = State,
            Actions = Actions,
            Trace = _trace,
            ModeChanges = _modes,
        };
    }
}
