using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Chat;
using VoiceFunctions.Sessions;
using VoiceFunctions.Telemetry;

namespace VoiceFunctions.Calls;

/// <summary>
/// One event in, the actions out — composed of the call's concerns, each a type of its own:
/// <list type="number">
/// <item>take the session's turn (<see cref="SessionCache"/>: events of one call are recorded one at a time on this
/// instance, in arrival order; across instances the session row's ETag serializes them);</item>
/// <item>decide (the pure <see cref="CallFlow"/>) and record (<see cref="StepRecorder"/>: storage, or the
/// <see cref="OutageBuffer"/> when storage fails or is too slow) — a pipeline turn also asks the chat model
/// (<see cref="ModelReplies"/>, raced against the filler in a <see cref="ReplyRace"/>);</item>
/// <item>answer within <see cref="CallOptions.ResponseBudget"/> (<see cref="AnswerDeadline"/>), whatever storage does:
/// out of time, the answer is decided from memory and the event waits on disk until recorded (<see cref="AnsweredJournal"/>).</item>
/// </list>
/// </summary>
public sealed partial class CallHandler(
    CallFlow flow,
    SessionCache sessions,
    StepRecorder recorder,
    ModelReplies replies,
    AnsweredJournal journal,
    OutageBuffer buffer,
    TimeProvider time,
    IOptions<CallOptions> options,
    IOptions<ChatModelOptions> chatOptions,
    ILogger<CallHandler> logger)
{
    private readonly CallOptions _options = options.Value;
    private readonly double _fillerInputTimeout = chatOptions.Value.FillerInputTimeoutSeconds;
    private long _inFlight;

    /// <param name="evt">The parsed event.</param>
    /// <param name="fingerprint">A hash of the raw body, to recognise a repeated delivery; null disables that check.</param>
    /// <param name="arrivedAt">When the request arrived (the TimeProvider's timestamp): the budget counts from there. Null: now.</param>
    public async Task<IReadOnlyList<AiFlowAction>> HandleAsync(AiFlowEvent evt, string? fingerprint = null, long? arrivedAt = null)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (evt is UnknownEvent)
        {
            return []; // answered 204 and logged by the endpoint; nothing to read or store
        }

        await journal.RecoverAsync().ConfigureAwait(false);
        var sessionId = SessionIds.Canonical(evt.Session.Id);
        var slot = sessions.Get(sessionId);
        var ticket = journal.Open(sessionId, evt, time.GetUtcNow());
        using var deadline = new AnswerDeadline(_options.ResponseBudget, time, arrivedAt);
        if (evt is AssistantSpeechEndedEvent or UserInputTimeoutEvent && slot.Reply is { IsCompleted: false } thinking)
        {
            // The filler has been spoken: a reply nearly done goes out now (as this event's pending actions).
            await deadline.GraceForReplyAsync(thinking).ConfigureAwait(false);
        }

        var race = new ReplyRace();
        var answering = AnswerAsync(slot, sessionId, evt, fingerprint, race, ticket);
        _ = KeepWhenSlowAsync(deadline, answering, ticket, sessionId, evt);
        if (await deadline.MetByAsync(answering).ConfigureAwait(false))
        {
            return WarnAbout(await answering.ConfigureAwait(false), sessionId);
        }

        return WarnAbout(await AnswerLateAsync(slot, sessionId, evt, race, ticket, answering).ConfigureAwait(false), sessionId);
    }

    /// <summary>
    /// Out of time: the filler if the model is thinking about a recorded turn, else the answer decided from what this
    /// instance knows; `answering` goes on and records the event. Until it has, the event waits on disk (written from
    /// halfway to the deadline, <see cref="KeepWhenSlowAsync"/>), so a process killed after this answer loses nothing
    /// the next start cannot record.
    /// </summary>
    private async Task<IReadOnlyList<AiFlowAction>> AnswerLateAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, ReplyRace race, AnsweredTicket ticket, Task<IReadOnlyList<AiFlowAction>> answering)
    {
        if (race.Recorded is { } recorded && race.Ask is { } ask)
        {
            // Recorded, but the model is still thinking: the filler now, its reply later (pending actions).
            if (race.TryFiller())
            {
                CallMetrics.Fillers.Add(1);
                return [.. recorded, flow.Filler(sessionId, ask.Persona, _fillerInputTimeout)];
            }

            return await answering.ConfigureAwait(false); // the model won by a hair: its answer is set
        }

        CallMetrics.LateAnswers.Add(1);
        LogLateAnswer(logger, sessionId, evt.LoggedType, (long)_options.ResponseBudget.TotalMilliseconds);
        var step = flow.Decide(slot.State, evt, time.GetUtcNow());
        if (step.Ask is not null && step.Next is { } next && race.TryFiller())
        {
            CallMetrics.Fillers.Add(1);
            return [.. step.Actions, flow.Filler(sessionId, next.Persona, _fillerInputTimeout)];
        }

        // Should the recording still ask the model, its reply can no longer be part of this answer: it becomes pending.
        race.Close();
        return step.Actions;
    }

    /// <summary>
    /// Still recording halfway to the deadline: storage is slow, so the event goes to disk now (<see cref="AnsweredTicket.Keep"/>),
    /// off the answer's path — the late answer at the deadline never waits for the disk (issue 23, item 7: with many
    /// calls answered late at once, their disk writes queued in front of their answers). Recorded meanwhile, nothing is
    /// written (the ticket is released). Never throws.
    /// </summary>
    private async Task KeepWhenSlowAsync(AnswerDeadline deadline, Task answering, AnsweredTicket ticket, string sessionId, AiFlowEvent evt)
    {
        try
        {
            if (await deadline.HalfwayMetByAsync(answering).ConfigureAwait(false))
            {
                return;
            }

            if (!ticket.Keep())
            {
                LogAnsweredNotKept(logger, sessionId, evt.LoggedType);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogUnexpected(logger, ex, sessionId, evt.LoggedType);
        }
    }

    /// <summary>
    /// Records the event and, for a pipeline caller turn, starts the chat model and waits for its reply. The reply
    /// is part of this answer only if it comes before the filler (<see cref="ReplyRace"/>); either way the model
    /// call runs to its end and records its reply.
    /// </summary>
    private async Task<IReadOnlyList<AiFlowAction>> AnswerAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, string? fingerprint, ReplyRace race, AnsweredTicket ticket)
    {
        var (actions, ask) = await RecordAsync(slot, sessionId, evt, fingerprint, ticket).ConfigureAwait(false);
        if (ask is null)
        {
            return actions;
        }

        race.Ask = ask;
        race.Recorded = actions; // after Ask: the handler reads Recorded first
        Interlocked.Increment(ref _inFlight);
        var reply = InFlightAsync(replies.ReplyAsync(slot, sessionId, evt, ask, race));
        slot.Reply = reply;
        var spoken = await race.InTime.Task.ConfigureAwait(false);
        return [.. actions, .. spoken];
    }

    /// <summary>Counts a model reply as in flight until it is recorded (<see cref="DrainAsync"/> waits for it).</summary>
    private async Task InFlightAsync(Task reply)
    {
        try
        {
            await reply.ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>Takes the session's turn and records the event (a repeated delivery is answered again, not recorded). Never throws.</summary>
    private async Task<(IReadOnlyList<AiFlowAction> Actions, ModelTurn? Ask)> RecordAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, string? fingerprint, AnsweredTicket ticket)
    {
        Interlocked.Increment(ref _inFlight);
        await slot.Lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (fingerprint is not null && MayBeRepeatedDelivery(evt) && slot.LastFingerprint == fingerprint && time.GetElapsedTime(slot.LastAt) < _options.DuplicateWindow)
            {
                LogDuplicate(logger, sessionId, evt.LoggedType);
                ticket.Release();
                return (slot.LastActions, null);
            }

            var step = await recorder.RecordAsync(slot, sessionId, evt, (state, now) => flow.Decide(state, evt, now), ticket).ConfigureAwait(false);
            slot.LastFingerprint = fingerprint;
            slot.LastAt = time.GetTimestamp();
            slot.LastActions = step.Actions;
            return (step.Actions, step.Ask);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Last line of defence: the caller still gets an answer; the failure is logged and counted. An event kept on
            // disk (answered late) stays there: the next start records it.
            CallMetrics.Lost.Add(1);
            LogUnexpected(logger, ex, sessionId, evt.LoggedType);
            return (flow.Decide(slot.State, evt, time.GetUtcNow()).Actions, null);
        }
        finally
        {
            slot.LastUsed = time.GetTimestamp();
            slot.Lock.Release();
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>
    /// Which events a byte-identical body within the window counts as a repeated delivery of. Only events whose
    /// content tells one occurrence from the next (words, a start, an end): a key press carries nothing but its
    /// digit, so pressing 1 twice is two identical bodies and both count; content-free events (speech ended, barge-in,
    /// input timeout) are identical every time. Recording such a repeat twice costs a row; collapsing a real one
    /// loses a digit of a PIN or lets a pending reply be sent twice.
    /// </summary>
    private static bool MayBeRepeatedDelivery(AiFlowEvent evt) =>
        evt is SessionStartEvent or UserSpeakEvent or AssistantSpeakEvent or SessionEndEvent or SmsFailedEvent;

    /// <summary>
    /// Logs what the platform will ignore or the docs leave open (<see cref="ActionValidation.Warnings"/>): such an
    /// answer is still sent, because dropping it would leave the caller in silence.
    /// </summary>
    private IReadOnlyList<AiFlowAction> WarnAbout(IReadOnlyList<AiFlowAction> actions, string sessionId)
    {
        foreach (var action in actions)
        {
            if (ActionValidator.Check(action).Warnings is { Count: > 0 } warnings)
            {
                LogActionWarning(logger, action.Type, sessionId, LogValues.Text(string.Join(" ", warnings), maxLength: 1024));
            }
        }

        return actions;
    }

    /// <summary>
    /// At shutdown (scale-in): waits for recordings and model replies still running after their answers, so they reach
    /// storage or the spool before the process ends; steps still held in memory get one last try at the spool.
    /// </summary>
    public async Task DrainAsync(TimeSpan timeout)
    {
        var start = time.GetTimestamp();
        while (Interlocked.Read(ref _inFlight) > 0 && time.GetElapsedTime(start) < timeout)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), time).ConfigureAwait(false);
        }

        foreach (var sessionId in buffer.HeldSessions())
        {
            var slot = sessions.Get(sessionId);
            await slot.Lock.WaitAsync().ConfigureAwait(false);
            try
            {
                buffer.LastTry(sessionId);
            }
            finally
            {
                slot.Lock.Release();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{ActionType} action for session {SessionId} sent with warnings: {Warnings}")]
    private static partial void LogActionWarning(ILogger logger, string actionType, string sessionId, string warnings);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: {EventType} answered from memory after the {BudgetMs} ms budget; still being recorded")]
    private static partial void LogLateAnswer(ILogger logger, string sessionId, string eventType, long budgetMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: repeated delivery of {EventType} answered again, not recorded twice")]
    private static partial void LogDuplicate(ILogger logger, string sessionId, string eventType);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: {EventType} was answered after the budget but could not be kept on disk; it is recorded only if this process lives until storage answers")]
    private static partial void LogAnsweredNotKept(ILogger logger, string sessionId, string eventType);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: unexpected failure recording {EventType}")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string sessionId, string eventType);
}
