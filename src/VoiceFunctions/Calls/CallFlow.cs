using VoiceFunctions.AiFlow;
using VoiceFunctions.Chat;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;


/// <summary>
/// The call's decisions, free of I/O: given the stored session (or none) and one event, what to answer
/// and what to record. Deterministic for a given clock value, so it is unit-tested directly.
/// </summary>
public sealed partial class CallFlow(PersonaCatalog personas)
{
    /// <summary>The detail of an assistant row whose <c>duration_ms</c> was not stored because the protocol cannot mean it.</summary>
    public const string InvalidDurationDetail = "duration_ms:invalid";

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

        // After session_end the platform allows no action: late or repeated events are recorded, never answered.
        var ended = current?.EndedAt is not null;
        var pending = ended ? null : TakePending(step, evt);
        long? callerSeq = null;

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
                step.Append(TraceKinds.SessionResumed, detail: ended ? "after_session_end" : step.State.Escalated ? "transfer_failed" : null);
                if (!ended)
                {
                    Resume(step, persona, sessionId);
                }

                break;

            case UserSpeakEvent speak:
                step.State = step.State with { TurnCount = step.State.TurnCount + 1 };
                callerSeq = step.Append(TraceKinds.Caller, text: speak.Text, bargedIn: speak.BargedIn);
                if (!ended && MatchKeyword(persona.Escalation, speak.Text) is { } keyword)
                {
                    Escalate(step, persona, ModeChangeReasons.EscalationKeyword, $"keyword:{keyword}");
                }

                break;

            case DtmfReceivedEvent dtmf:
                step.Append(TraceKinds.Dtmf, digit: dtmf.Digit);
                if (!ended && persona.Escalation.DtmfDigits is { Length: > 0 } digits && EventValues.IsDtmfKey(dtmf.Digit) && digits.Contains(dtmf.Digit, StringComparison.Ordinal))
                {
                    Escalate(step, persona, ModeChangeReasons.EscalationDtmf, $"dtmf:{dtmf.Digit}");
                }

                break;

            case AssistantSpeakEvent said:
                // The line is what matters; a duration the protocol cannot mean (negative, beyond an hour) is not kept
                // as if measured, and the row says so: refusing the event would lose the line for its metadata.
                var duration = said.DurationMs is { } ms && !EventValues.IsDurationMs(ms) ? null : said.DurationMs;
                step.Append(TraceKinds.Assistant, text: said.Text ?? said.Ssml, durationMs: duration,
                    detail: duration is null && said.DurationMs is not null ? InvalidDurationDetail : null);
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

            case SmsFailedEvent failed:
                step.Append(TraceKinds.SmsFailed, detail: failed.Reason);
                break;

            case SessionEndEvent end:
                // Never an action: the platform allows none after session_end. A repeated one keeps the first end.
                step.State = step.State with { EndedAt = step.State.EndedAt ?? now, EndReason = step.State.EndReason ?? end.Reason };
                step.Append(TraceKinds.SessionEnd, detail: end.Reason);
                break;
        }

        // The event's own row comes first (the storage concurrency check needs it), then what became of the pending actions.
        if (pending is { } taken)
        {
            step.Append(taken.Outcome == PendingOutcome.Deliver ? TraceKinds.PendingDelivered : TraceKinds.PendingDropped, detail: taken.Detail);
            if (taken.Outcome == PendingOutcome.Deliver && taken.Actions.Purpose == PendingPurposes.Escalation)
            {
                Escalate(step, persona, ModeChangeReasons.EscalationModel, "model_failures");
            }
            else if (taken.Outcome == PendingOutcome.Deliver)
            {
                step.Actions.InsertRange(0, taken.Actions.Actions);
            }
        }

        if (ended)
        {
            step.Actions.Clear();
        }

        // The pipeline's chat model answers a caller turn, unless a keyword or DTMF escalation (or a pending hand-off)
        // took the turn: those win, exactly as without a model. Voice-to-voice never asks it.
        ModelTurn? ask = null;
        if (!ended && evt is UserSpeakEvent turnEvent && callerSeq is { } seq && !persona.VoiceToVoice && step.State.Mode == SessionModes.Pipeline &&
            !step.State.Escalated && step.Actions.Count == 0 && !string.IsNullOrWhiteSpace(turnEvent.Text))
        {
            ask = new ModelTurn(persona.Name, step.State.TurnCount, seq, turnEvent.Text);
        }

        return step.Build() with { Ask = ask };
    }

    /// <summary>
    /// Records what the chat model answered to <paramref name="turn"/> and decides how it reaches the caller:
    /// in the answer (in time), as pending actions for the next quiet moment (<paramref name="late"/>: the filler
    /// went out instead), or not at all (overtaken: a newer turn, a barge-in, an escalation or the end came first).
    /// A failure is the persona's apology; the persona's limit of failures in a row escalates instead.
    /// </summary>
    /// <param name="filler">The filler line, when it was spoken for this turn (recorded before the reply).</param>
    public CallStep DecideReply(SessionState current, ModelTurn turn, ModelAnswer answer, bool late, string? filler, bool interrupted, TimeSpan timeToLive, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(turn);
        ArgumentNullException.ThrowIfNull(answer);
        var step = new StepBuilder(current, now) { State = current };
        var persona = personas.ByName(current.Persona);
        var sessionId = current.SessionId;
        if (filler is not null)
        {
            step.Append(TraceKinds.AssistantReply, text: filler, detail: ReplySource.Filler);
        }

        if (answer.Error is { } error)
        {
            step.Append(TraceKinds.ModelFailed, detail: error);
        }

        var failures = answer.Error is null ? 0 : current.ModelFailures + 1;
        step.State = step.State with { ModelFailures = failures };
        var source = answer.Error is null ? ReplySource.Model : ReplySource.Apology;
        var text = answer.Text ?? persona.Chat.ApologyLine;
        var overtaken = current.EndedAt is not null || current.TurnCount != turn.Turn || current.Escalated ||
            current.Mode != SessionModes.Pipeline || interrupted;
        if (overtaken)
        {
            step.Append(TraceKinds.AssistantReply, text: text, detail: $"{source}:{ReplySource.Overtaken}");
            return step.Build();
        }

        if (answer.Error is not null && failures >= persona.Chat.MaxFailures)
        {
            step.State = step.State with { ModelFailures = 0 };
            if (late)
            {
                // The filler is playing: the hand-off line must not be sent on top of it, so it waits for the next event.
                step.State = step.State with { Pending = PendingActions.Escalation(now) };
            }
            else
            {
                Escalate(step, persona, ModeChangeReasons.EscalationModel, $"model_failures:{failures}");
            }

            return step.Build();
        }

        var speak = new SpeakAction { SessionId = sessionId, Text = text };
        if (late)
        {
            step.Append(TraceKinds.AssistantReply, text: text, detail: source + ReplySource.LateSuffix);
            step.State = step.State with { Pending = PendingActions.Reply([speak], now, timeToLive) };
        }
        else
        {
            step.Append(TraceKinds.AssistantReply, text: text, detail: source);
            step.Actions.Add(speak);
        }

        return step.Build();
    }

    /// <summary>The persona's filler line, spoken when the model misses the budget; its input timeout gives the late reply a quiet moment to go out in.</summary>
    public SpeakAction Filler(string sessionId, string persona, double inputTimeoutSeconds) =>
        new()
        {
            SessionId = sessionId,
            Text = personas.ByName(persona).Chat.FillerLine,
            UserInputTimeoutSeconds = inputTimeoutSeconds > 0 ? inputTimeoutSeconds : null,
        };


    /// <summary>
    /// Decides what <paramref name="evt"/> does to the session's pending actions and clears them from the state
    /// when they are delivered or dropped (the step's write then records that, under the session row's ETag).
    /// </summary>
    private static (PendingOutcome Outcome, PendingActions Actions, string Detail)? TakePending(StepBuilder step, AiFlowEvent evt)
    {
        if (step.State.Pending is not { } pending)
        {
            return null;
        }

        var outcome = pending.On(evt.Type, step.Now);
        if (outcome == PendingOutcome.Keep)
        {
            return null;
        }

        step.State = step.State with { Pending = null };
        var detail = outcome switch
        {
            PendingOutcome.Deliver => $"{pending.Purpose}:{string.Join(',', pending.Actions.Select(a => a.Type))}",
            PendingOutcome.Expired => $"{pending.Purpose}:expired",
            _ => $"{pending.Purpose}:{evt.Type}",
        };
        return (outcome, pending, detail);
    }

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

    /// <summary>
    /// The most of a session field (account id, phone numbers, direction) that is kept. Real values are a few dozen
    /// characters at most (an E.164 number has 15 digits); a longer one is no real call's, and is cut here so that
    /// it cannot bloat the cached state, every rewrite of the session row and every spool file (see reliability.md).
    /// </summary>
    public const int MaxSessionFieldChars = 256;

    /// <summary>Fills numbers a later event knows and an earlier one did not; never overwrites. Over-long values are cut and noted.</summary>
    private static SessionState WithSessionFields(SessionState state, AiFlowSession session)
    {
        var shortened = new ShortenedFields(state.Shortened);
        var next = state with
        {
            AccountId = state.AccountId ?? Bounded(session.AccountId, nameof(SessionState.AccountId)),
            PhoneNumber = state.PhoneNumber ?? Bounded(session.PhoneNumber, nameof(SessionState.PhoneNumber)),
            FromPhoneNumber = state.FromPhoneNumber ?? Bounded(session.FromPhoneNumber, nameof(SessionState.FromPhoneNumber)),
            ToPhoneNumber = state.ToPhoneNumber ?? Bounded(session.ToPhoneNumber, nameof(SessionState.ToPhoneNumber)),
            Direction = state.Direction ?? Bounded(session.Direction, nameof(SessionState.Direction)),
        };
        return next with { Shortened = shortened.ToString() };

        string? Bounded(string? value, string field)
        {
            if (value is null || value.Length <= MaxSessionFieldChars)
            {
                return value;
            }

            shortened.Add(field, value.Length);
            return TableLimits.Cut(value, MaxSessionFieldChars);
        }
    }

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
}
