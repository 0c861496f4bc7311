using System.Collections.Concurrent;
using Azure;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>
/// Runs one event through <see cref="CallFlow"/> and stores the result. Events of one session are handled
/// one at a time on this instance (arrival order = trace order); across instances the session row's ETag
/// serializes them. The session state is kept in memory between events, so a known session's answer
/// needs no storage read: one transaction per event in steady state.
/// </summary>
public sealed partial class CallHandler(CallFlow flow, SessionStore store, CallTelemetry telemetry, TimeProvider time, ILogger<CallHandler> logger)
{
    private const int MaxAttempts = 5;

    /// <summary>Sessions kept in memory; beyond it the least recently used idle ones are dropped (and re-read if needed).</summary>
    private const int MaxCachedSessions = 10_000;

    private readonly ConcurrentDictionary<string, SessionSlot> _slots = new(StringComparer.Ordinal);

    public async Task<IReadOnlyList<AiFlowAction>> HandleAsync(AiFlowEvent evt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (evt is UnknownEvent)
        {
            return []; // answered 204 and logged by the endpoint; nothing to read or store
        }

        var sessionId = SessionIds.Canonical(evt.Session.Id);
        var slot = GetSlot(sessionId);
        await slot.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            CallStep? step = null;
            for (var attempt = 1; attempt <= MaxAttempts; attempt++)
            {
                if (!slot.Loaded && attempt == 1 && evt is SessionStartEvent)
                {
                    // Almost every session_start is for a new call: try to add it straight away (one round trip);
                    // a conflict means the call is known after all, and the loop reloads it.
                    slot.State = null;
                    slot.ETag = null;
                }
                else if (!slot.Loaded)
                {
                    var stored = await store.LoadAsync(sessionId, CancellationToken.None).ConfigureAwait(false);
                    slot.State = stored?.State;
                    slot.ETag = stored?.ETag;
                    slot.Loaded = true;
                }

                step = flow.Decide(slot.State, evt, time.GetUtcNow());
                if (step.WritesNothing)
                {
                    return step.Actions;
                }

                try
                {
                    // Not the request's token: a caller hanging up must not cost the trace its last turn.
                    var etag = await store.CommitAsync(step, slot.ETag, CancellationToken.None).ConfigureAwait(false);
                    slot.State = step.Next;
                    slot.ETag = etag;
                    slot.Loaded = etag is not null;
                    if (evt is SessionEndEvent)
                    {
                        _slots.TryRemove(sessionId, out _);
                    }

                    telemetry.Recorded(evt, step, stored: true);
                    return step.Actions;
                }
                catch (SessionConflictException)
                {
                    LogConflict(logger, sessionId, attempt);
                    slot.Loaded = false;
                }
            }

            LogGaveUp(logger, sessionId, evt.Type);
            return step!.Actions;
        }
        catch (Exception ex) when (ex is RequestFailedException or AggregateException or OperationCanceledException or TimeoutException)
        {
            // The call comes first: answer with what the flow decided even though the write failed.
            LogStorageFailed(logger, ex, sessionId, evt.Type, (ex as RequestFailedException)?.Status ?? 0);
            slot.Loaded = false;
            var unstored = flow.Decide(slot.State, evt, time.GetUtcNow());
            telemetry.Recorded(evt, unstored, stored: false);
            return unstored.Actions;
        }
        finally
        {
            slot.LastUsed = time.GetTimestamp();
            slot.Lock.Release();
        }
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
        public bool Loaded { get; set; }
        public SessionState? State { get; set; }
        public ETag? ETag { get; set; }
        public long LastUsed { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} changed concurrently (attempt {Attempt}); reloading")]
    private static partial void LogConflict(ILogger logger, string sessionId, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: gave up storing {EventType} after repeated conflicts")]
    private static partial void LogGaveUp(ILogger logger, string sessionId, string eventType);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: storing {EventType} failed with status {Status}; answered anyway")]
    private static partial void LogStorageFailed(ILogger logger, Exception exception, string sessionId, string eventType, int status);
}
