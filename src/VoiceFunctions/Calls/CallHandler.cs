using System.Collections.Concurrent;
using System.Globalization;
using Azure;
using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Chat;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;
using VoiceFunctions.Telemetry;

namespace VoiceFunctions.Calls;

/// <summary>
/// Runs each event through <see cref="CallFlow"/> and records the result, keeping two promises:
/// <list type="number">
/// <item>the answer goes out within <see cref="CallOptions.ResponseBudget"/>, whatever storage does;</item>
/// <item>no event is lost: it is committed to Table Storage, or — when storage fails or is too slow —
/// written to the durable local <see cref="SessionSpool"/> and replayed, in order, when storage is back.</item>
/// </list>
/// Events of one session are recorded one at a time on this instance (arrival order = trace order);
/// across instances the session row's ETag serializes them. The session state is kept in memory between
/// events, so a known session's answer needs no storage read: one transaction per event in steady state.
/// </summary>
public sealed partial class CallHandler(
    CallFlow flow,
    SessionStore store,
    SessionSpool spool,
    CallTelemetry telemetry,
    TimeProvider time,
    IOptions<CallOptions> options,
    ILogger<CallHandler> logger,
    AssistantModel model,
    PersonaCatalog personas,
    IOptions<ChatModelOptions> chatOptions)
{
    private const int MaxAttempts = 5;

    /// <summary>Steps kept in memory while neither storage nor the spool takes them; beyond it a step is lost (counted).</summary>
    private const int MaxHeldSteps = 10_000;

    /// <summary>Sessions kept in memory; beyond it the least recently used idle ones are dropped (and re-read if needed).</summary>
    private const int MaxCachedSessions = 10_000;

    /// <summary>After a storage failure, new steps go straight to the spool for this long instead of waiting on a dead service.</summary>
    private static readonly TimeSpan OutageHold = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<string, SessionSlot> _slots = new(StringComparer.Ordinal);
    private readonly CallOptions _options = options.Value;
    private readonly ChatModelOptions _chat = chatOptions.Value;
    /// <summary>Timestamp of the last storage failure; 0 = none since the last successful replay.</summary>
    private long _lastStorageFailure;
    private long _inFlight;

    /// <summary>Steps neither storage nor the spool could take, per session in spool order (see <see cref="Hold"/>).</summary>
    private readonly ConcurrentDictionary<string, List<HeldStep>> _held = new(StringComparer.Ordinal);
    private int _heldCount;
    private Task? _recovery;

    private bool StorageRecentlyFailed =>
        Interlocked.Read(ref _lastStorageFailure) is var failed and not 0 && time.GetElapsedTime(failed) < OutageHold;

    /// <param name="evt">The parsed event.</param>
    /// <param name="fingerprint">A hash of the raw body, to recognise a repeated delivery; null disables that check.</param>
    public async Task<IReadOnlyList<AiFlowAction>> HandleAsync(AiFlowEvent evt, string? fingerprint = null)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (evt is UnknownEvent)
        {
            return []; // answered 204 and logged by the endpoint; nothing to read or store
        }

        await RecoverAnsweredEventsAsync().ConfigureAwait(false);
        var sessionId = SessionIds.Canonical(evt.Session.Id);
        var slot = GetSlot(sessionId);
        var ticket = new AnsweredTicket(spool, sessionId, evt, time.GetUtcNow());
        using var timer = new CancellationTokenSource();
        var budget = Task.Delay(_options.ResponseBudget, time, timer.Token);
        if (evt is AssistantSpeechEndedEvent or UserInputTimeoutEvent && slot.Reply is { IsCompleted: false } thinking)
        {
            // The filler has been spoken and the model may be about to answer: half the budget for it, so its reply
            // goes out now (as this event's pending actions) instead of at a later quiet moment.
            await Task.WhenAny(thinking, Task.Delay(_options.ResponseBudget / 2, time)).ConfigureAwait(false);
        }

        var race = new ReplyRace();
        var answering = AnswerAsync(slot, sessionId, evt, fingerprint, race, ticket);
        if (await Task.WhenAny(answering, budget).ConfigureAwait(false) == answering)
        {
            await timer.CancelAsync().ConfigureAwait(false);
            return WarnAbout(await answering.ConfigureAwait(false), sessionId);
        }

        if (race.Recorded is { } recorded && race.Ask is { } ask)
        {
            // Recorded, but the model is still thinking: the filler now, its reply later (pending actions).
            if (race.TryFiller())
            {
                CallMetrics.Fillers.Add(1);
                return WarnAbout([.. recorded, flow.Filler(sessionId, ask.Persona, _chat.FillerInputTimeoutSeconds)], sessionId);
            }

            return WarnAbout(await answering.ConfigureAwait(false), sessionId); // the model won by a hair: its answer is set
        }

        // Out of time: answer from what this instance knows; `answering` goes on and records the event. Until it has,
        // the event waits on disk, so a process killed after this answer loses nothing the next start cannot record.
        CallMetrics.LateAnswers.Add(1);
        LogLateAnswer(logger, sessionId, evt.LoggedType, (long)_options.ResponseBudget.TotalMilliseconds);
        if (!ticket.Keep())
        {
            LogAnsweredNotKept(logger, sessionId, evt.LoggedType);
        }

        var step = flow.Decide(slot.State, evt, time.GetUtcNow());
        if (step.Ask is not null && step.Next is { } next && race.TryFiller())
        {
            CallMetrics.Fillers.Add(1);
            return WarnAbout([.. step.Actions, flow.Filler(sessionId, next.Persona, _chat.FillerInputTimeoutSeconds)], sessionId);
        }

        // Should the recording still ask the model, its reply can no longer be part of this answer: it becomes pending.
        race.Close();
        return WarnAbout(step.Actions, sessionId);
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
        var reply = ReplyAsync(slot, sessionId, evt, ask, race);
        slot.Reply = reply;
        var spoken = await race.InTime.Task.ConfigureAwait(false);
        return [.. actions, .. spoken];
    }

    /// <summary>
    /// Asks the chat model for <paramref name="ask"/> outside the session's lock (other events of the call are
    /// recorded meanwhile), then decides and records the reply under it, through the same commit path as every event.
    /// Never throws.
    /// </summary>
    private async Task ReplyAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, ModelTurn ask, ReplyRace race)
    {
        Interlocked.Increment(ref _inFlight);
        try
        {
            var persona = personas.ByName(ask.Persona);
            IReadOnlyList<TraceEntry> trace = [];
            try
            {
                using var timeout = new CancellationTokenSource(_options.StorageOperationTimeout, time);
                trace = await ConversationHistory.ReadAsync(store, sessionId, ask.CallerSeq, ask.Text, _chat.HistoryTurns, _chat.HistoryChars, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (StorageFailures.IsStorageFailure(ex))
            {
                var kind = ex.GetType().Name;
                LogHistoryUnavailable(logger, sessionId, kind); // the turn alone is still answerable
            }

            var conversation = Conversation.From(trace, ask.CallerSeq, ask.Text, _chat.HistoryTurns, _chat.HistoryChars);
            var answer = await model.AskAsync(persona, conversation, CancellationToken.None).ConfigureAwait(false);
            if (answer.Error is { } error)
            {
                LogModelFailed(logger, sessionId, error, answer.LatencyMs);
            }

            await slot.Lock.WaitAsync().ConfigureAwait(false);
            try
            {
                // In time only while the race is open and the state is at hand (no storage read may delay the answer).
                var late = !(slot.Loaded && race.TryInTime());
                // A late reply follows the filler (sent, or about to be at the budget), unless the answer went out without one.
                var filler = late && !race.ClosedWithoutFiller ? persona.Chat.FillerLine : null;
                CallStep Decide(SessionState? state, DateTimeOffset now) => state is null
                    ? new CallStep { Previous = null, Next = null, Actions = [] } // nothing known of the call (storage away, no spool): nothing to add to
                    : flow.DecideReply(state, ask, answer, late, filler, slot.LastInterruptSeq > ask.CallerSeq, _chat.ReplyTimeToLive, now);

                if (!late)
                {
                    // The answer leaves now, decided from what this instance holds; the commit below follows it (as
                    // for any answer given before its recording is stored).
                    race.InTime.TrySetResult(Decide(slot.State, time.GetUtcNow()).Actions);
                }

                var step = await DecideAndStoreAsync(slot, sessionId, evt, Decide).ConfigureAwait(false);
                telemetry.Replied(step, answer);
            }
            finally
            {
                slot.Lock.Release();
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            CallMetrics.Lost.Add(1);
            LogUnexpected(logger, ex, sessionId, evt.LoggedType);
            race.InTime.TrySetResult([]);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

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

    /// <summary>Decides and records one event under the session's lock. Never throws.</summary>
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

            var step = await DecideAndStoreAsync(slot, sessionId, evt, ticket: ticket).ConfigureAwait(false);
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
    /// At shutdown (scale-in): waits for recordings still running after their answers, so they reach
    /// storage or the spool before the process ends; steps still held in memory get one last try at the spool.
    /// </summary>
    public async Task DrainAsync(TimeSpan timeout)
    {
        var start = time.GetTimestamp();
        while (Interlocked.Read(ref _inFlight) > 0 && time.GetElapsedTime(start) < timeout)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), time).ConfigureAwait(false);
        }

        foreach (var sessionId in _held.Keys.ToList())
        {
            var slot = GetSlot(sessionId);
            await slot.Lock.WaitAsync().ConfigureAwait(false);
            try
            {
                SpoolHeld(sessionId);
                if (_held.TryRemove(sessionId, out var left) && left.Count > 0)
                {
                    Interlocked.Add(ref _heldCount, -left.Count);
                    CallMetrics.Lost.Add(left.Count);
                    LogHeldLost(logger, sessionId, left.Count);
                }
            }
            finally
            {
                slot.Lock.Release();
            }
        }
    }

    /// <param name="decide">What the step is; default: the event's own decision (<see cref="CallFlow.Decide"/>). A model reply passes its own.</param>
    /// <param name="ticket">The event's answered-event ticket, released once the step is durable (stored, spooled) or writes nothing.</param>
    private async Task<CallStep> DecideAndStoreAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, Func<SessionState?, DateTimeOffset, CallStep>? decide = null, AnsweredTicket? ticket = null)
    {
        decide ??= (state, now) => flow.Decide(state, evt, now);
        var writeId = ticket?.EventId ?? Guid.NewGuid().ToString("N");
        CallStep? attempted = null;
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            await EnsureStateAsync(slot, sessionId, evt, optimisticStart: attempt == 1).ConfigureAwait(false);
            var stored = slot.StoredEventIds;
            slot.StoredEventIds = null;
            if (attempted is not null && stored?.Contains(writeId) == true)
            {
                // The "conflict" was this step itself: an earlier try was stored although its answer timed out, and the
                // retry met its own row. Deciding again would record the event twice.
                LogOwnWrite(logger, sessionId, evt.LoggedType);
                ticket?.Release();
                telemetry.Recorded(evt, attempted, stored: true);
                return attempted;
            }

            var step = WithEventId(decide(slot.State, time.GetUtcNow()), writeId);
            if (step.WritesNothing)
            {
                ticket?.Release();
                return step;
            }

            if (spool.IsErased(sessionId))
            {
                // An erasure of this call was accepted and waits for storage: nothing of the call is recorded meanwhile.
                LogErasedNotRecorded(logger, sessionId, evt.LoggedType);
                ticket?.Release();
                return step;
            }

            NoteInterruptions(slot, step);
            if (slot.Spooling || StorageRecentlyFailed)
            {
                Spool(slot, step, evt, ticket);
                return step;
            }

            attempted = step;
            try
            {
                using var timeout = new CancellationTokenSource(_options.StorageOperationTimeout, time);
                // Not the request's token: a caller hanging up must not cost the trace its last turn.
                var etag = await store.CommitAsync(step, slot.ETag, timeout.Token).ConfigureAwait(false);
                ticket?.Release();
                slot.State = step.Next;
                slot.ETag = etag;
                slot.BaseKnown = true;
                slot.Loaded = etag is not null;

                // An ended call stays cached (until trimmed like any idle one): a late event answered from memory
                // must see that the call is over, not mistake it for a new one and answer with actions.

                telemetry.Recorded(evt, step, stored: true);
                return step;
            }
            catch (SessionConflictException)
            {
                LogConflict(logger, sessionId, attempt);
                slot.Loaded = false;
            }
            catch (Exception ex) when (StorageFailures.IsPermanent(ex))
            {
                // Storage refused this step's content: no outage (other calls go on being stored) and nothing to
                // replay (it would be refused again); its quarantined form is stored instead. The answer stands.
                if (await StoreQuarantinedAsync(slot, sessionId, step, evt, ex, ticket).ConfigureAwait(false))
                {
                    return step;
                }
            }
            catch (Exception ex) when (StorageFailures.IsStorageFailure(ex))
            {
                StorageFailed(ex, sessionId, evt.LoggedType);
                Spool(slot, step, evt, ticket);
                return step;
            }
        }

        LogGaveUp(logger, sessionId, evt.LoggedType);
        var last = WithEventId(decide(slot.State, time.GetUtcNow()), writeId);
        if (last.WritesNothing)
        {
            ticket?.Release();
            return last;
        }


        // Another writer keeps winning: this step's numbers are not to be trusted, so the replay re-bases it on
        // what is stored then instead of upserting over the other writer's rows.
        slot.BaseKnown = false;
        Spool(slot, last, evt, ticket);
        return last;
    }

    /// <summary>
    /// Marks the step's first trace row with the id of what wrote it (the event's id, or one per model reply), so a
    /// write that reached storage although its answer was lost (a timed-out try the SDK retried, a process killed after
    /// the write) is recognised and not stored twice.
    /// </summary>
    private static CallStep WithEventId(CallStep step, string writeId) =>
        step.Trace.Count == 0 ? step : step with { Trace = [step.Trace[0] with { EventId = writeId }, .. step.Trace.Skip(1)] };

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
    /// Stores <paramref name="step"/> without the request's content (<see cref="QuarantinedStep"/>) after a permanent
    /// failure. False on a conflict (reload and decide again); otherwise true: stored, spooled (storage went away
    /// meanwhile), or — refused too — counted as lost and logged, without content either way.
    /// </summary>
    private async Task<bool> StoreQuarantinedAsync(SessionSlot slot, string sessionId, CallStep step, AiFlowEvent evt, Exception failure, AnsweredTicket? ticket)
    {
        var reason = StorageFailures.Reason(failure);
        LogQuarantined(logger, sessionId, evt.LoggedType, reason);
        var quarantined = QuarantinedStep.From(step, reason, time.GetUtcNow());
        try
        {
            using var timeout = new CancellationTokenSource(_options.StorageOperationTimeout, time);
            var etag = await store.CommitAsync(quarantined, slot.ETag, timeout.Token).ConfigureAwait(false);
            ticket?.Release();
            slot.State = quarantined.Next; // what is stored: later steps must not write the refused values again
            slot.ETag = etag;
            slot.BaseKnown = true;
            slot.Loaded = etag is not null;
            CallMetrics.Quarantined.Add(1);
            telemetry.Recorded(evt, quarantined, stored: true);
            return true;
        }
        catch (SessionConflictException)
        {
            slot.Loaded = false;
            return false;
        }
        catch (Exception ex) when (StorageFailures.IsPermanent(ex))
        {
            CallMetrics.Lost.Add(1);
            var refused = StorageFailures.Reason(ex);
            LogQuarantineRefused(logger, sessionId, evt.LoggedType, refused);
            ticket?.Release(); // no retry can store it: the next start must not try again either
            slot.Loaded = false;
            return true;
        }
        catch (Exception ex) when (StorageFailures.IsStorageFailure(ex))
        {
            StorageFailed(ex, sessionId, evt.LoggedType);
            CallMetrics.Quarantined.Add(1);
            Spool(slot, quarantined, evt, ticket);
            return true;
        }
    }

    /// <summary>A barge-in overtakes a reply the model is still thinking about (on this instance; across instances the next caller turn does).</summary>
    private static void NoteInterruptions(SessionSlot slot, CallStep step)
    {
        foreach (var row in step.Trace)
        {
            if (row.Kind == TraceKinds.BargeIn && row.Seq > slot.LastInterruptSeq)
            {
                slot.LastInterruptSeq = row.Seq;
            }
        }
    }

    /// <summary>Makes <see cref="SessionSlot.State"/> the session as known: cache, held steps, spool, or one storage read.</summary>
    private async Task EnsureStateAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, bool optimisticStart)
    {
        if (slot.Loaded)
        {
            return;
        }

        if (NewestWaiting(sessionId) is { } waiting)
        {
            // Steps of this call are still waiting (on disk or in memory): continue from the newest, in order behind them.
            slot.State = waiting.Session;
            slot.BaseKnown = waiting.BaseKnown;
            slot.Spooling = true;
            slot.Loaded = true;
            return;
        }

        if (optimisticStart && evt is SessionStartEvent)
        {
            // Almost every session_start is a new call: add it straight away (one round trip); a conflict
            // means the call is known after all, and the next attempt reads it. Unknown until then.
            slot.State = null;
            slot.ETag = null;
            slot.BaseKnown = false;
            return;
        }

        if (StorageRecentlyFailed)
        {
            slot.State = null;
            slot.BaseKnown = false;
            slot.Loaded = true;
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(_options.StorageOperationTimeout, time);
            var stored = await store.LoadAsync(sessionId, timeout.Token).ConfigureAwait(false);
            slot.State = stored?.State;
            slot.ETag = stored?.ETag;
            slot.StoredEventIds = stored?.EventIds;
            slot.BaseKnown = true;
            slot.Loaded = true;
        }
        catch (Exception ex) when (StorageFailures.IsStorageFailure(ex))
        {
            StorageFailed(ex, sessionId, evt.LoggedType);
            slot.State = null;
            slot.BaseKnown = false;
            slot.Loaded = true;
        }
    }

    /// <summary>The newest step of the session not yet in storage: held in memory, or on disk.</summary>
    private SpooledStep? NewestWaiting(string sessionId)
    {
        SpooledStep? held = null;
        if (_held.TryGetValue(sessionId, out var list))
        {
            lock (list)
            {
                held = list.Count > 0 ? list[^1].Step : null;
            }
        }

        var onDisk = spool.Latest(sessionId);
        return held is null ? onDisk : onDisk is null || string.CompareOrdinal(held.Id, onDisk.Id) > 0 ? held : onDisk;
    }

    /// <summary>Keeps a step that cannot be stored now: on disk (the spool), or, when the disk fails too, in memory.</summary>
    private void Spool(SessionSlot slot, CallStep step, AiFlowEvent evt, AnsweredTicket? ticket)
    {
        var next = step.Next!;
        var spooled = new SpooledStep
        {
            SessionId = next.SessionId,
            BaseKnown = slot.BaseKnown,
            Session = next,
            Trace = step.Trace,
            ModeChanges = step.ModeChanges,
            EventId = step.Trace.Count > 0 ? step.Trace[0].EventId : ticket?.EventId, // the writer id: a try that was stored after all is skipped at replay
            Id = spool.NewId(),
        };

        // New events of the call queue behind this step whichever way it is kept.
        slot.State = next;
        slot.ETag = null;
        slot.Spooling = true;
        slot.Loaded = true;
        if (!_held.ContainsKey(next.SessionId))
        {
            try
            {
                spool.Append(spooled);
                ticket?.Release();
                CallMetrics.Spooled.Add(1);
                LogSpooled(logger, next.SessionId, step.Trace.Count + step.ModeChanges.Count);
                telemetry.Recorded(evt, step, stored: false);
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                LogSpoolFailed(logger, ex.GetType().Name, next.SessionId);
            }
        }

        // Behind held steps of the call (or with the disk failing): in memory, in order.
        Hold(spooled, ticket);
        telemetry.Recorded(evt, step, stored: false);
    }

    /// <summary>
    /// The last resort: neither storage nor the spool can take the step, so it waits in memory (bounded) until either
    /// can. Lost only should the process die meanwhile (counted at a graceful stop) or the bound be full (counted now).
    /// </summary>
    private void Hold(SpooledStep step, AnsweredTicket? ticket)
    {
        if (Interlocked.Increment(ref _heldCount) > MaxHeldSteps)
        {
            Interlocked.Decrement(ref _heldCount);
            CallMetrics.Lost.Add(1);
            LogHeldLost(logger, step.SessionId, 1);
            return;
        }

        var list = _held.GetOrAdd(step.SessionId, static _ => []);
        lock (list)
        {
            list.Add(new HeldStep(step, ticket));
        }

        CallMetrics.Held.Add(1);
        LogHeld(logger, step.SessionId, step.Trace.Count + step.ModeChanges.Count);
    }

    /// <summary>Moves the session's held steps to the spool, in order, while the disk takes them. Under the session's lock.</summary>
    private void SpoolHeld(string sessionId)
    {
        if (!_held.TryGetValue(sessionId, out var list))
        {
            return;
        }

        lock (list)
        {
            while (list.Count > 0)
            {
                try
                {
                    spool.Append(list[0].Step); // keeps its id, so its place among the session's steps
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    return;
                }

                list[0].Ticket?.Release();
                list.RemoveAt(0);
                Interlocked.Decrement(ref _heldCount);
                CallMetrics.Spooled.Add(1);
            }

            _held.TryRemove(new KeyValuePair<string, List<HeldStep>>(sessionId, list));
        }
    }

    /// <summary>
    /// Completes erasures accepted while storage was away, moves held steps to disk, then moves spooled and held steps
    /// into Table Storage, oldest first per session, under the session's lock so new events queue behind them. Returns
    /// how many steps were written; stops at the first transient storage failure. A step storage refuses for good is
    /// moved aside (it would block its call forever and keep the instance in outage mode), and the replay goes on.
    /// </summary>
    public async Task<int> ReplaySpoolAsync(CancellationToken cancellationToken)
    {
        if (!await CompleteErasuresAsync(cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }

        var replayed = 0;
        foreach (var sessionId in spool.PendingSessions().Union(_held.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList())
        {
            var slot = GetSlot(sessionId);
            await slot.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                SpoolHeld(sessionId);
                foreach (var waiting in Waiting(sessionId))
                {
                    try
                    {
                        using var timeout = new CancellationTokenSource(_options.StorageOperationTimeout, time);
                        await store.ApplySpooledAsync(waiting.Step, timeout.Token).ConfigureAwait(false);
                        CallMetrics.Replayed.Add(1);
                        replayed++;
                        Forget(waiting);
                    }
                    catch (Exception ex) when (StorageFailures.IsPermanent(ex))
                    {
                        var reason = StorageFailures.Reason(ex);
                        LogReplayRefused(logger, sessionId, reason);
                        if (waiting.OnDisk)
                        {
                            spool.Quarantine(waiting.Step, reason);
                        }
                        else
                        {
                            CallMetrics.Lost.Add(1);
                            Forget(waiting);
                        }
                    }
                }

                // Drained: the next event reads the stored row (and its ETag) again.
                slot.Spooling = false;
                slot.Loaded = false;
                Interlocked.Exchange(ref _lastStorageFailure, 0);
            }
            catch (Exception ex) when (StorageFailures.IsStorageFailure(ex))
            {
                Interlocked.Exchange(ref _lastStorageFailure, time.GetTimestamp());
                var error = ex.GetType().Name;
                LogReplayDeferred(logger, sessionId, error);
                break;
            }
            finally
            {
                slot.Lock.Release();
            }
        }

        if (replayed > 0)
        {
            LogReplayed(logger, replayed);
        }

        return replayed;
    }

    /// <summary>The session's steps not yet in storage, in spool order: on disk and held in memory.</summary>
    private List<WaitingStep> Waiting(string sessionId)
    {
        var waiting = spool.Pending(sessionId).Select(s => new WaitingStep(s, null, OnDisk: true)).ToList();
        if (_held.TryGetValue(sessionId, out var list))
        {
            lock (list)
            {
                waiting.AddRange(list.Select(h => new WaitingStep(h.Step, h.Ticket, OnDisk: false)));
            }
        }

        return [.. waiting.OrderBy(w => w.Step.Id, StringComparer.Ordinal)];
    }

    /// <summary>The step is in storage (or refused for good): off the disk or out of memory.</summary>
    private void Forget(WaitingStep waiting)
    {
        if (waiting.OnDisk)
        {
            spool.Remove(waiting.Step);
            return;
        }

        var sessionId = waiting.Step.SessionId;
        if (_held.TryGetValue(sessionId, out var list))
        {
            lock (list)
            {
                if (list.RemoveAll(h => h.Step.Id == waiting.Step.Id) > 0)
                {
                    Interlocked.Decrement(ref _heldCount);
                }

                if (list.Count == 0)
                {
                    _held.TryRemove(new KeyValuePair<string, List<HeldStep>>(sessionId, list));
                }
            }
        }

        waiting.Ticket?.Release();
    }

    private readonly record struct WaitingStep(SpooledStep Step, AnsweredTicket? Ticket, bool OnDisk);

    private sealed record HeldStep(SpooledStep Step, AnsweredTicket? Ticket);

    /// <summary>Erasures accepted while storage was away, done now. False when storage still fails (the replay waits too).</summary>
    private async Task<bool> CompleteErasuresAsync(CancellationToken cancellationToken)
    {
        foreach (var sessionId in spool.Tombstones())
        {
            var slot = GetSlot(sessionId);
            await slot.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                DropWaiting(sessionId);
                using var timeout = new CancellationTokenSource(ErasureTimeout, time);
                await store.DeleteAsync(sessionId, timeout.Token).ConfigureAwait(false);
                spool.RemoveTombstone(sessionId);
                LogErasureCompleted(logger, sessionId);
            }
            catch (Exception ex) when (StorageFailures.IsPermanent(ex))
            {
                // Not an outage: the tombstone stays (the call reads as gone) and the other calls' replay goes on.
                LogReplayRefused(logger, sessionId, StorageFailures.Reason(ex));
            }
            catch (Exception ex) when (StorageFailures.IsStorageFailure(ex))
            {
                Interlocked.Exchange(ref _lastStorageFailure, time.GetTimestamp());
                return false;
            }
            finally
            {
                slot.Lock.Release();
            }
        }

        return true;
    }

    /// <summary>A whole call's rows are deleted in transactions of 100: give a long call time (the erasure is not on a call's path).</summary>
    private static readonly TimeSpan ErasureTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Forgets every step of the session not yet in storage: spooled, held and answered-but-unrecorded.</summary>
    private void DropWaiting(string sessionId)
    {
        spool.Erase(sessionId);
        if (_held.TryRemove(sessionId, out var list))
        {
            lock (list)
            {
                Interlocked.Add(ref _heldCount, -list.Count);
                foreach (var held in list)
                {
                    held.Ticket?.Release();
                }

                list.Clear();
            }
        }
    }

    /// <summary>True while an erasure of the session has been accepted but storage has not done it yet: the call reads as gone.</summary>
    public bool IsErasurePending(string sessionId) => spool.IsErased(sessionId);

    /// <summary>
    /// Erasure: the session's rows, its spooled, held and answered-but-unrecorded steps and its cached state. True when
    /// done; false when storage is away and the erasure was kept (a tombstone on disk) to be completed by the replay.
    /// Idempotent.
    /// </summary>
    /// <exception cref="Exception">A storage failure when the erasure could not be kept either (the disk fails too).</exception>
    public async Task<bool> EraseAsync(string sessionId, CancellationToken cancellationToken)
    {
        var slot = GetSlot(sessionId);
        await slot.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // The tombstone first: from here on a crash or an outage still ends with the call erased.
            var kept = false;
            try
            {
                spool.AddTombstone(sessionId);
                kept = true;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                LogTombstoneFailed(logger, sessionId, ex.GetType().Name);
            }

            DropWaiting(sessionId);

            // Events already waiting on this slot must not write the erased state back: they start afresh.
            slot.State = null;
            slot.ETag = null;
            slot.Spooling = false;
            slot.Loaded = false;
            _slots.TryRemove(sessionId, out _);
            if (kept && StorageRecentlyFailed)
            {
                LogErasureKept(logger, sessionId, "outage");
                return false; // no need to wait on a dead service: the replay completes it
            }

            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_options.StorageOperationTimeout * 3);
                await store.DeleteAsync(sessionId, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (kept && StorageFailures.IsStorageFailure(ex))
            {
                LogErasureKept(logger, sessionId, ex.GetType().Name);
                return false;
            }

            if (kept)
            {
                spool.RemoveTombstone(sessionId);
            }

            return true;
        }
        finally
        {
            slot.Lock.Release();
        }
    }

    /// <summary>
    /// Events a previous process answered but did not live to record (killed while storage hung): each is decided
    /// again from the newest spooled state of its call and spooled, marked with its event id, before this process
    /// records anything — the replay then stores it after what is stored, or skips it if its step got there first.
    /// Disk only, so it never waits on storage. Runs once per process.
    /// </summary>
    public Task RecoverAnsweredEventsAsync() => LazyInitializer.EnsureInitialized(ref _recovery, () => Task.Run(RecoverAnsweredEvents));

    private void RecoverAnsweredEvents()
    {
        var recovered = 0;
        try
        {
            foreach (var answered in spool.Answered())
            {
                try
                {
                    recovered += RecoverAnsweredEvent(answered) ? 1 : 0;
                }
                catch (AiFlowParseException)
                {
                    spool.Quarantine(answered.File, "the kept event does not parse");
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogRecoveryFailed(logger, ex.GetType().Name); // the files stay; the next start tries again
        }

        if (recovered > 0)
        {
            LogRecovered(logger, recovered);
        }
    }

    private bool RecoverAnsweredEvent(AnsweredEvent answered)
    {
        var sessionId = answered.SessionId;
        if (spool.IsErased(sessionId) || spool.Pending(sessionId).Any(s => s.EventId == answered.EventId))
        {
            spool.Release(answered.File); // erased meanwhile, or its step was spooled before the process died
            return false;
        }

        var evt = AiFlowEventParser.Parse(System.Text.Encoding.UTF8.GetBytes(answered.Event));
        if (!SessionIds.IsValid(evt.Session.Id) || SessionIds.Canonical(evt.Session.Id) != sessionId)
        {
            spool.Quarantine(answered.File, "the kept event names another session");
            return false;
        }

        var latest = spool.Latest(sessionId);
        var step = flow.Decide(latest?.Session, evt, answered.ReceivedAt);
        if (step.Next is { } next && step.Trace.Count > 0)
        {
            spool.Append(new SpooledStep
            {
                SessionId = sessionId,
                BaseKnown = latest?.BaseKnown ?? false,
                Session = next,
                Trace = step.Trace,
                ModeChanges = step.ModeChanges,
                EventId = answered.EventId,
            });
            CallMetrics.Spooled.Add(1);
        }

        spool.Release(answered.File);
        return true;
    }

    private void StorageFailed(Exception ex, string sessionId, string eventType)
    {
        if (StorageFailures.IsTransient(ex))
        {
            // Outage mode only for an outage: one call's unstorable step says nothing about storage.
            Interlocked.Exchange(ref _lastStorageFailure, time.GetTimestamp());
        }

        var status = (ex as RequestFailedException)?.Status ?? 0;
        var error = ex.GetType().Name;
        LogStorageFailed(logger, sessionId, eventType, status, error);
    }

    private SessionSlot GetSlot(string sessionId)
    {
        if (_slots.TryGetValue(sessionId, out var slot))
        {
            return slot;
        }

        if (_slots.Count >= MaxCachedSessions)
        {
            Trim();
        }

        return _slots.GetOrAdd(sessionId, static _ => new SessionSlot());
    }

    private void Trim()
    {
        foreach (var (id, _) in _slots.Where(s => s.Value.Lock.CurrentCount == 1).OrderBy(s => s.Value.LastUsed).Take(MaxCachedSessions / 4).ToList())
        {
            _slots.TryRemove(id, out _);
        }
    }

    private sealed class SessionSlot
    {
        public SemaphoreSlim Lock { get; } = new(1, 1);

        /// <summary>State (and ETag) reflect the stored or spooled session; false means read it first.</summary>
        public bool Loaded { get; set; }

        public SessionState? State { get; set; }
        public ETag? ETag { get; set; }

        /// <summary>False when the state was decided without the stored session (storage was away).</summary>
        public bool BaseKnown { get; set; }

        /// <summary>Steps of this session wait in the spool: new ones must queue behind them.</summary>
        public bool Spooling { get; set; }

        public long LastUsed { get; set; }
        public string? LastFingerprint { get; set; }
        public long LastAt { get; set; }
        public IReadOnlyList<AiFlowAction> LastActions { get; set; } = [];

        /// <summary>The writer ids on the call's stored rows, from the last load; only until the next decision (see <see cref="DecideAndStoreAsync"/>).</summary>
        public IReadOnlySet<string>? StoredEventIds { get; set; }

        /// <summary>The newest barge-in's sequence number seen on this instance.</summary>
        public long LastInterruptSeq { get; set; }

        /// <summary>The chat-model call of the newest pipeline turn (running or done).</summary>
        public Task? Reply { get; set; }
    }

    /// <summary>
    /// An event's claim on the disk while it is answered but not yet recorded. <see cref="Keep"/> (the late answer)
    /// and <see cref="Release"/> (the recording: stored, spooled, or nothing to write) may race; whichever comes second
    /// sees the other's work, so a kept event is removed once its step is durable, and never kept after.
    /// </summary>
    private sealed class AnsweredTicket(SessionSpool spool, string sessionId, AiFlowEvent evt, DateTimeOffset receivedAt)
    {
        private readonly Lock _gate = new();
        private string? _file;
        private bool _released;

        /// <summary>Written on the event's own trace row, so a step that reached storage is not stored again from the disk.</summary>
        public string EventId { get; } = Guid.NewGuid().ToString("N");

        /// <summary>Writes the event to disk unless its step is durable already; false when the disk refused.</summary>
        public bool Keep()
        {
            lock (_gate)
            {
                if (_released || _file is not null)
                {
                    return true;
                }

                try
                {
                    _file = spool.Keep(new AnsweredEvent { EventId = EventId, SessionId = sessionId, ReceivedAt = receivedAt, Event = AiFlowJson.Serialize(evt) });
                    return true;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    return false;
                }
            }
        }

        public void Release()
        {
            lock (_gate)
            {
                _released = true;
                if (_file is null)
                {
                    return;
                }

                try
                {
                    spool.Release(_file);
                    _file = null;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Left for the next start, which finds its step by the event id and records it only if it is missing.
                }
            }
        }
    }

    /// <summary>
    /// Who answers a pipeline turn: the model's reply, if it is ready before the response budget runs out, or the
    /// filler line. Decided once (compare-and-swap), so a reply is either in the answer or pending, never both.
    /// </summary>
    private sealed class ReplyRace
    {
        private int _state; // 0 open, 1 the reply is in the answer, 2 the filler went out, 3 answered without either
        private IReadOnlyList<AiFlowAction>? _recorded;

        /// <summary>The turn the model is answering (set before <see cref="Recorded"/>).</summary>
        public ModelTurn? Ask { get; set; }

        /// <summary>The recorded turn's own actions, once recorded (then the model is thinking).</summary>
        public IReadOnlyList<AiFlowAction>? Recorded
        {
            get => Volatile.Read(ref _recorded);
            set => Volatile.Write(ref _recorded, value);
        }

        /// <summary>The reply's actions, when the model won; empty when the filler did.</summary>
        public TaskCompletionSource<IReadOnlyList<AiFlowAction>> InTime { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool TryInTime() => Interlocked.CompareExchange(ref _state, 1, 0) == 0;

        public bool ClosedWithoutFiller => Volatile.Read(ref _state) == 3;

        /// <summary>The answer went out without the model and without the filler (answered from memory, no model turn seen).</summary>
        public void Close()
        {
            if (Interlocked.CompareExchange(ref _state, 3, 0) == 0)
            {
                InTime.TrySetResult([]);
            }
        }

        public bool TryFiller()
        {
            if (Interlocked.CompareExchange(ref _state, 2, 0) != 0)
            {
                return false;
            }

            InTime.TrySetResult([]);
            return true;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{ActionType} action for session {SessionId} sent with warnings: {Warnings}")]
    private static partial void LogActionWarning(ILogger logger, string actionType, string sessionId, string warnings);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: {EventType} was stored by a try whose answer timed out; not stored again")]
    private static partial void LogOwnWrite(ILogger logger, string sessionId, string eventType);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} changed concurrently (attempt {Attempt}); reloading")]
    private static partial void LogConflict(ILogger logger, string sessionId, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: gave up committing {EventType} after repeated conflicts; spooled")]
    private static partial void LogGaveUp(ILogger logger, string sessionId, string eventType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: storing {EventType} failed (status {Status}, {Error}); spooling")]
    private static partial void LogStorageFailed(ILogger logger, string sessionId, string eventType, int status, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: storage refused {EventType} for good ({Reason}); stored quarantined, without the request's content")]
    private static partial void LogQuarantined(ILogger logger, string sessionId, string eventType, string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Session {SessionId}: storage refused {EventType} even quarantined ({Reason}); the step is lost")]
    private static partial void LogQuarantineRefused(ILogger logger, string sessionId, string eventType, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: {EventType} answered from memory after the {BudgetMs} ms budget; still being recorded")]
    private static partial void LogLateAnswer(ILogger logger, string sessionId, string eventType, long budgetMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: repeated delivery of {EventType} answered again, not recorded twice")]
    private static partial void LogDuplicate(ILogger logger, string sessionId, string eventType);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: {Rows} rows spooled to local disk")]
    private static partial void LogSpooled(ILogger logger, string sessionId, int rows);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: the step could not be spooled ({Error}); kept in memory until storage or the spool takes it")]
    private static partial void LogSpoolFailed(ILogger logger, string error, string sessionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: {Rows} rows held in memory")]
    private static partial void LogHeld(ILogger logger, string sessionId, int rows);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Session {SessionId}: {Steps} steps could be neither stored, spooled nor held; they are lost")]
    private static partial void LogHeldLost(ILogger logger, string sessionId, int steps);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: {EventType} was answered after the budget but could not be kept on disk; it is recorded only if this process lives until storage answers")]
    private static partial void LogAnsweredNotKept(ILogger logger, string sessionId, string eventType);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: {EventType} not recorded: the call's erasure waits for storage")]
    private static partial void LogErasedNotRecorded(ILogger logger, string sessionId, string eventType);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: storage refused a waiting step or erasure for good ({Reason}); moved aside, the replay goes on")]
    private static partial void LogReplayRefused(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: an erasure kept during a storage outage is done")]
    private static partial void LogErasureCompleted(ILogger logger, string sessionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: storage is away ({Error}); the erasure is kept and completed when it answers")]
    private static partial void LogErasureKept(ILogger logger, string sessionId, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: the erasure could not be kept on disk ({Error})")]
    private static partial void LogTombstoneFailed(ILogger logger, string sessionId, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Events answered by a previous process could not be read from the spool ({Error}); they stay for the next start")]
    private static partial void LogRecoveryFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} events answered by a previous process that died before recording them were spooled for replay")]
    private static partial void LogRecovered(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replay for session {SessionId} deferred: storage still failing ({Error})")]
    private static partial void LogReplayDeferred(ILogger logger, string sessionId, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} spooled steps replayed into Table Storage")]
    private static partial void LogReplayed(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: the chat model failed ({Error}) after {LatencyMs} ms; the caller hears the apology")]
    private static partial void LogModelFailed(ILogger logger, string sessionId, string error, long latencyMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: the conversation could not be read ({Error}); the model gets the turn alone")]
    private static partial void LogHistoryUnavailable(ILogger logger, string sessionId, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: unexpected failure recording {EventType}")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string sessionId, string eventType);
}
