using System.Collections.Concurrent;
using Azure;
using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Chat;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;

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

        var sessionId = SessionIds.Canonical(evt.Session.Id);
        var slot = GetSlot(sessionId);
        using var timer = new CancellationTokenSource();
        var budget = Task.Delay(_options.ResponseBudget, time, timer.Token);
        if (evt is AssistantSpeechEndedEvent or UserInputTimeoutEvent && slot.Reply is { IsCompleted: false } thinking)
        {
            // The filler has been spoken and the model may be about to answer: half the budget for it, so its reply
            // goes out now (as this event's pending actions) instead of at a later quiet moment.
            await Task.WhenAny(thinking, Task.Delay(_options.ResponseBudget / 2, time)).ConfigureAwait(false);
        }

        var race = new ReplyRace();
        var answering = AnswerAsync(slot, sessionId, evt, fingerprint, race);
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

        // Out of time: answer from what this instance knows; `answering` goes on and keeps the event.
        CallMetrics.LateAnswers.Add(1);
        LogLateAnswer(logger, sessionId, evt.Type, (long)_options.ResponseBudget.TotalMilliseconds);
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
    private async Task<IReadOnlyList<AiFlowAction>> AnswerAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, string? fingerprint, ReplyRace race)
    {
        var (actions, ask) = await RecordAsync(slot, sessionId, evt, fingerprint).ConfigureAwait(false);
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
            catch (Exception ex) when (IsStorageFailure(ex))
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
            LogUnexpected(logger, ex, sessionId, evt.Type);
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
                LogActionWarning(logger, action.Type, sessionId, string.Join(" ", warnings));
            }
        }

        return actions;
    }

    /// <summary>Decides and records one event under the session's lock. Never throws.</summary>
    private async Task<(IReadOnlyList<AiFlowAction> Actions, ModelTurn? Ask)> RecordAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, string? fingerprint)
    {
        Interlocked.Increment(ref _inFlight);
        await slot.Lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (fingerprint is not null && slot.LastFingerprint == fingerprint && time.GetElapsedTime(slot.LastAt) < _options.DuplicateWindow)
            {
                LogDuplicate(logger, sessionId, evt.Type);
                return (slot.LastActions, null);
            }

            var step = await DecideAndStoreAsync(slot, sessionId, evt).ConfigureAwait(false);
            slot.LastFingerprint = fingerprint;
            slot.LastAt = time.GetTimestamp();
            slot.LastActions = step.Actions;
            return (step.Actions, step.Ask);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Last line of defence: the caller still gets an answer; the failure is logged and counted.
            CallMetrics.Lost.Add(1);
            LogUnexpected(logger, ex, sessionId, evt.Type);
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
    /// storage or the spool before the process ends.
    /// </summary>
    public async Task DrainAsync(TimeSpan timeout)
    {
        var start = time.GetTimestamp();
        while (Interlocked.Read(ref _inFlight) > 0 && time.GetElapsedTime(start) < timeout)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), time).ConfigureAwait(false);
        }
    }

    /// <param name="decide">What the step is; default: the event's own decision (<see cref="CallFlow.Decide"/>). A model reply passes its own.</param>
    private async Task<CallStep> DecideAndStoreAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, Func<SessionState?, DateTimeOffset, CallStep>? decide = null)
    {
        decide ??= (state, now) => flow.Decide(state, evt, now);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            await EnsureStateAsync(slot, sessionId, evt, optimisticStart: attempt == 1).ConfigureAwait(false);
            var step = decide(slot.State, time.GetUtcNow());
            if (step.WritesNothing)
            {
                return step;
            }

            NoteInterruptions(slot, step);
            if (slot.Spooling || StorageRecentlyFailed)
            {
                Spool(slot, step, evt);
                return step;
            }

            try
            {
                using var timeout = new CancellationTokenSource(_options.StorageOperationTimeout, time);
                // Not the request's token: a caller hanging up must not cost the trace its last turn.
                var etag = await store.CommitAsync(step, slot.ETag, timeout.Token).ConfigureAwait(false);
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
            catch (Exception ex) when (IsStorageFailure(ex))
            {
                StorageFailed(ex, sessionId, evt.Type);
                Spool(slot, step, evt);
                return step;
            }
        }

        LogGaveUp(logger, sessionId, evt.Type);
        var last = decide(slot.State, time.GetUtcNow());
        if (last.WritesNothing)
        {
            return last;
        }


        // Another writer keeps winning: this step's numbers are not to be trusted, so the replay re-bases it on
        // what is stored then instead of upserting over the other writer's rows.
        slot.BaseKnown = false;
        Spool(slot, last, evt);
        return last;
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

    /// <summary>Makes <see cref="SessionSlot.State"/> the session as known: cache, spool, or one storage read.</summary>
    private async Task EnsureStateAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, bool optimisticStart)
    {
        if (slot.Loaded)
        {
            return;
        }

        if (spool.Latest(sessionId) is { } spooled)
        {
            // Steps of this call are still waiting on disk: continue from the newest, in order behind them.
            slot.State = spooled.Session;
            slot.BaseKnown = spooled.BaseKnown;
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
            slot.BaseKnown = true;
            slot.Loaded = true;
        }
        catch (Exception ex) when (IsStorageFailure(ex))
        {
            StorageFailed(ex, sessionId, evt.Type);
            slot.State = null;
            slot.BaseKnown = false;
            slot.Loaded = true;
        }
    }

    private void Spool(SessionSlot slot, CallStep step, AiFlowEvent evt)
    {
        var next = step.Next!;
        try
        {
            spool.Append(new SpooledStep
            {
                SessionId = next.SessionId,
                BaseKnown = slot.BaseKnown,
                Session = next,
                Trace = step.Trace,
                ModeChanges = step.ModeChanges,
            });
            slot.State = next;
            slot.ETag = null;
            slot.Spooling = true;
            slot.Loaded = true;
            CallMetrics.Spooled.Add(1);
            LogSpooled(logger, next.SessionId, step.Trace.Count + step.ModeChanges.Count);
            telemetry.Recorded(evt, step, stored: false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            CallMetrics.Lost.Add(1);
            LogSpoolFailed(logger, ex, next.SessionId);
            slot.Loaded = false;
        }
    }

    /// <summary>
    /// Moves spooled steps into Table Storage, oldest first per session, under the session's lock so new
    /// events queue behind them. Returns how many steps were written; stops at the first storage failure.
    /// </summary>
    public async Task<int> ReplaySpoolAsync(CancellationToken cancellationToken)
    {
        var replayed = 0;
        foreach (var sessionId in spool.PendingSessions())
        {
            var slot = GetSlot(sessionId);
            await slot.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                foreach (var step in spool.Pending(sessionId))
                {
                    using var timeout = new CancellationTokenSource(_options.StorageOperationTimeout, time);
                    await store.ApplySpooledAsync(step, timeout.Token).ConfigureAwait(false);
                    spool.Remove(step);
                    CallMetrics.Replayed.Add(1);
                    replayed++;
                }

                // Drained: the next event reads the stored row (and its ETag) again.
                slot.Spooling = false;
                slot.Loaded = false;
                Interlocked.Exchange(ref _lastStorageFailure, 0);
            }
            catch (Exception ex) when (IsStorageFailure(ex))
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

    /// <summary>Erasure: the session's rows, its spooled steps and its cached state. Idempotent.</summary>
    public async Task EraseAsync(string sessionId, CancellationToken cancellationToken)
    {
        var slot = GetSlot(sessionId);
        await slot.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            spool.Erase(sessionId);
            await store.DeleteAsync(sessionId, cancellationToken).ConfigureAwait(false);

            // Events already waiting on this slot must not write the erased state back: they start afresh.
            slot.State = null;
            slot.ETag = null;
            slot.Spooling = false;
            slot.Loaded = false;
            _slots.TryRemove(sessionId, out _);
        }
        finally
        {
            slot.Lock.Release();
        }
    }

    private void StorageFailed(Exception ex, string sessionId, string eventType)
    {
        Interlocked.Exchange(ref _lastStorageFailure, time.GetTimestamp());
        var status = (ex as RequestFailedException)?.Status ?? 0;
        var error = ex.GetType().Name;
        LogStorageFailed(logger, sessionId, eventType, status, error);
    }

    public static bool IsStorageFailure(Exception ex) =>
        ex is RequestFailedException or OperationCanceledException or TimeoutException or HttpRequestException or AggregateException
            or Azure.Identity.AuthenticationFailedException;

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

        /// <summary>The newest barge-in's sequence number seen on this instance.</summary>
        public long LastInterruptSeq { get; set; }

        /// <summary>The chat-model call of the newest pipeline turn (running or done).</summary>
        public Task? Reply { get; set; }
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} changed concurrently (attempt {Attempt}); reloading")]
    private static partial void LogConflict(ILogger logger, string sessionId, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: gave up committing {EventType} after repeated conflicts; spooled")]
    private static partial void LogGaveUp(ILogger logger, string sessionId, string eventType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: storing {EventType} failed (status {Status}, {Error}); spooling")]
    private static partial void LogStorageFailed(ILogger logger, string sessionId, string eventType, int status, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: {EventType} answered from memory after the {BudgetMs} ms budget; still being recorded")]
    private static partial void LogLateAnswer(ILogger logger, string sessionId, string eventType, long budgetMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: repeated delivery of {EventType} answered again, not recorded twice")]
    private static partial void LogDuplicate(ILogger logger, string sessionId, string eventType);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: {Rows} rows spooled to local disk")]
    private static partial void LogSpooled(ILogger logger, string sessionId, int rows);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Session {SessionId}: the step could be neither stored nor spooled; it is lost")]
    private static partial void LogSpoolFailed(ILogger logger, Exception exception, string sessionId);

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
