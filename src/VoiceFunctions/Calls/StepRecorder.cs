using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Sessions;
using VoiceFunctions.Telemetry;

namespace VoiceFunctions.Calls;

/// <summary>
/// Records one step of a call during its turn: decides it on the session as known (cache, waiting steps, or one storage
/// read), commits it under the session's ETag and retries a conflict by deciding again; recognises its own write by the
/// writer id (a try stored although its answer timed out); stores the quarantined form of a step storage refuses for
/// good; and hands a step storage cannot take now to the <see cref="OutageBuffer"/>. Never waits on storage in an outage.
/// </summary>
public sealed partial class StepRecorder(
    SessionStore store,
    OutageBuffer buffer,
    CallErasure erasure,
    StorageOutage outage,
    CallTelemetry telemetry,
    TimeProvider time,
    IOptions<CallOptions> options,
    ILogger<StepRecorder> logger,
    Notes.NotesRequests? notes = null)
{
    private const int MaxAttempts = 5;

    private readonly CallOptions _options = options.Value;

    /// <summary>Decides and records one step; the caller holds the session's turn. Throws only on a bug.</summary>
    /// <param name="decide">What the step is on the session as known (null: nothing known of it).</param>
    /// <param name="ticket">The event's answered-event ticket, released once the step is durable (stored, spooled) or writes nothing.</param>
    public async Task<CallStep> RecordAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, Func<SessionState?, DateTimeOffset, CallStep> decide, AnsweredTicket? ticket)
    {
        ArgumentNullException.ThrowIfNull(slot);
        ArgumentNullException.ThrowIfNull(evt);
        ArgumentNullException.ThrowIfNull(decide);
        var writeId = ticket?.EventId ?? Guid.NewGuid().ToString("N");
        CallStep? attempted = null;
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            // After a conflict: whether the conflicting row is this step's own, asked while the call is read again
            // (side by side, so the conflict costs the answer no extra round trip).
            var ownWrite = attempted is null ? null : WroteItselfAsync(sessionId, writeId, attempted, evt);
            var read = await EnsureStateAsync(slot, sessionId, evt, optimisticStart: attempt == 1).ConfigureAwait(false);
            if (ownWrite is not null && !read)
            {
                // Not read from storage (steps of the call wait, or storage is away): nothing to compare with.
                _ = ownWrite.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }
            else if (ownWrite is not null && await ownWrite.ConfigureAwait(false))
            {
                // The "conflict" was this step itself: an earlier try was stored although its answer timed out, and the
                // retry met its own row. Deciding again would record the event twice.
                LogOwnWrite(logger, sessionId, evt.LoggedType);
                ticket?.Release();
                telemetry.Recorded(evt, attempted!, stored: true);
                Stored(sessionId, attempted!);
                return attempted!;
            }

            var step = WithWriterId(decide(slot.State, time.GetUtcNow()), writeId);
            if (step.WritesNothing)
            {
                ticket?.Release();
                return step;
            }

            if (slot.Erased || erasure.IsPending(sessionId))
            {
                // The call was erased (its marker is stored, by any instance), or an erasure here waits for storage:
                // nothing of the call is recorded.
                LogErasedNotRecorded(logger, sessionId, evt.LoggedType);
                ticket?.Release();
                return step;
            }

            NoteInterruptions(slot, step);
            if (slot.Spooling || outage.RecentlyFailed)
            {
                Keep(slot, step, evt, ticket);
                return step;
            }

            attempted = step;
            try
            {
                using var timeout = new CancellationTokenSource(_options.StorageOperationTimeout, time);
                // Not the request's token: a caller hanging up must not cost the trace its last turn.
                var etag = await store.CommitAsync(step, slot.ETag, timeout.Token).ConfigureAwait(false);
                ticket?.Release();
                // An ended call stays cached (until trimmed like any idle one): a late event answered from memory
                // must see that the call is over, not mistake it for a new one and answer with actions.
                slot.Set(step.Next, etag, baseKnown: true, loaded: etag is not null);
                telemetry.Recorded(evt, step, stored: true);
                Stored(sessionId, step);
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
                outage.Failed(ex, sessionId, evt.LoggedType);
                Keep(slot, step, evt, ticket);
                return step;
            }
        }

        LogGaveUp(logger, sessionId, evt.LoggedType);
        var last = WithWriterId(decide(slot.State, time.GetUtcNow()), writeId);
        if (last.WritesNothing)
        {
            ticket?.Release();
            return last;
        }

        // Another writer keeps winning: this step's numbers are not to be trusted, so the replay re-bases it on
        // what is stored then instead of upserting over the other writer's rows.
        slot.BaseKnown = false;
        Keep(slot, last, evt, ticket);
        return last;
    }

    /// <summary>
    /// Marks the step's first trace row with the id of what wrote it (the event's id, or one per model reply), so a
    /// write that reached storage although its answer was lost (a timed-out try the SDK retried, a process killed after
    /// the write) is recognised and not stored twice.
    /// </summary>
    private static CallStep WithWriterId(CallStep step, string writeId) =>
        step.Trace.Count == 0 ? step : step with { Trace = [step.Trace[0] with { EventId = writeId }, .. step.Trace.Skip(1)] };

    /// <summary>After a conflict, whether the conflicting row is the attempted step's own (one filtered query; only then).</summary>
    private async Task<bool> WroteItselfAsync(string sessionId, string writeId, CallStep attempted, AiFlowEvent evt)
    {
        try
        {
            using var timeout = new CancellationTokenSource(_options.StorageOperationTimeout, time);
            return await store.IsWrittenByAsync(sessionId, writeId, attempted.Previous?.LastSeq ?? 0, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (StorageFailures.IsStorageFailure(ex))
        {
            // Unknown: decided again; should it be spooled, the replay asks the same question before writing.
            outage.Failed(ex, sessionId, evt.LoggedType);
            return false;
        }
    }

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
            slot.Set(quarantined.Next, etag, baseKnown: true, loaded: etag is not null); // later steps must not write the refused values again
            CallMetrics.Quarantined.Add(1);
            telemetry.Recorded(evt, quarantined, stored: true);
            Stored(sessionId, quarantined);
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
            outage.Failed(ex, sessionId, evt.LoggedType);
            CallMetrics.Quarantined.Add(1);
            Keep(slot, quarantined, evt, ticket);
            return true;
        }
    }

    /// <summary>
    /// A stored step that ends the call hands it to the notes (issue 21): a channel write, the claim and the queue's round
    /// trip happen in the background, never on the answer path. A step that waits out an outage does this at its replay.
    /// </summary>
    private void Stored(string sessionId, CallStep step)
    {
        if (notes is not null && EndsCall(step))
        {
            notes.CallEnded(sessionId);
        }
    }

    /// <summary>The step records a <c>session_end</c> (a repeated one too: the notes' claim makes that a no-op).</summary>
    public static bool EndsCall(CallStep step) => step.Trace.Any(t => t.Kind == TraceKinds.SessionEnd);

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

    /// <summary>
    /// Makes <see cref="SessionSlot.State"/> the session as known: cache, waiting steps, or one storage read.
    /// True when it was read from storage just now.
    /// </summary>
    private async Task<bool> EnsureStateAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, bool optimisticStart)
    {
        if (slot.Loaded)
        {
            return false;
        }

        if (buffer.Newest(sessionId) is { } waiting)
        {
            // Steps of this call are still waiting (on disk or in memory): continue from the newest, in order behind them.
            slot.Set(waiting.Session, slot.ETag, waiting.BaseKnown, loaded: true);
            slot.Spooling = true;
            return false;
        }

        if (optimisticStart && evt is SessionStartEvent)
        {
            // Almost every session_start is a new call: add it straight away (one round trip); a conflict
            // means the call is known after all, and the next attempt reads it. Unknown until then.
            slot.Set(null, null, baseKnown: false, loaded: false);
            return false;
        }

        if (outage.RecentlyFailed)
        {
            slot.Set(null, slot.ETag, baseKnown: false, loaded: true);
            return false;
        }

        try
        {
            using var timeout = new CancellationTokenSource(_options.StorageOperationTimeout, time);
            var stored = await store.LoadAsync(sessionId, timeout.Token).ConfigureAwait(false);
            slot.Erased = stored?.Erased == true;
            slot.Set(slot.Erased ? null : stored?.State, stored?.ETag, baseKnown: true, loaded: true);
            return true;
        }
        catch (Exception ex) when (StorageFailures.IsStorageFailure(ex))
        {
            outage.Failed(ex, sessionId, evt.LoggedType);
            slot.Set(null, slot.ETag, baseKnown: false, loaded: true);
            return false;
        }
    }

    /// <summary>Keeps a step that cannot be stored now (<see cref="OutageBuffer"/>); the call's next steps queue behind it.</summary>
    private void Keep(SessionSlot slot, CallStep step, AiFlowEvent evt, AnsweredTicket? ticket)
    {
        var next = step.Next!;
        var spooled = new SpooledStep
        {
            SessionId = next.SessionId,
            BaseKnown = slot.BaseKnown,
            Session = next,
            Base = step.Previous,
            Trace = step.Trace,
            ModeChanges = step.ModeChanges,
            EventId = step.Trace.Count > 0 ? step.Trace[0].EventId : ticket?.EventId, // the writer id: a try that was stored after all is skipped at replay
            Id = buffer.NewId(),
        };

        slot.Set(next, null, slot.BaseKnown, loaded: true);
        slot.Spooling = true;
        buffer.Keep(spooled, ticket);
        telemetry.Recorded(evt, step, stored: false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: {EventType} was stored by a try whose answer timed out; not stored again")]
    private static partial void LogOwnWrite(ILogger logger, string sessionId, string eventType);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} changed concurrently (attempt {Attempt}); reloading")]
    private static partial void LogConflict(ILogger logger, string sessionId, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: gave up committing {EventType} after repeated conflicts; spooled")]
    private static partial void LogGaveUp(ILogger logger, string sessionId, string eventType);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: storage refused {EventType} for good ({Reason}); stored quarantined, without the request's content")]
    private static partial void LogQuarantined(ILogger logger, string sessionId, string eventType, string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Session {SessionId}: storage refused {EventType} even quarantined ({Reason}); the step is lost")]
    private static partial void LogQuarantineRefused(ILogger logger, string sessionId, string eventType, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: {EventType} not recorded: the call's erasure waits for storage")]
    private static partial void LogErasedNotRecorded(ILogger logger, string sessionId, string eventType);
}
