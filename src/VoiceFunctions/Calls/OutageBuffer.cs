using System.Collections.Concurrent;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>A step of a call not yet in storage: on disk (the spool) or, while the disk fails too, held in memory.</summary>
/// <param name="Ticket">The answered event it records, released once the step is durable.</param>
public sealed record WaitingStep(SpooledStep Step, AnsweredTicket? Ticket, bool OnDisk);

/// <summary>
/// Where steps wait while Table Storage cannot take them, in spool order per call: the durable local
/// <see cref="SessionSpool"/>, or — when the disk fails too — memory (bounded; lost only should the process die
/// meanwhile, counted). A call's steps never overtake each other: once one is held, the call's next ones are held
/// behind it until the disk takes them again. Every method of a session is called during that session's turn
/// (<see cref="SessionSlot.Lock"/>).
/// </summary>
public sealed partial class OutageBuffer(SessionSpool spool, ILogger<OutageBuffer> logger, int maxHeld = OutageBuffer.DefaultMaxHeld)
{
    /// <summary>Steps kept in memory while neither storage nor the spool takes them; beyond it a step is lost (counted).</summary>
    public const int DefaultMaxHeld = 10_000;

    private readonly ConcurrentDictionary<string, List<WaitingStep>> _held = new(StringComparer.Ordinal);
    private int _heldCount;

    /// <summary>Spool order: given to a step when it is decided, so it keeps its place wherever it waits.</summary>
    public string NewId() => spool.NewId();

    /// <summary>The newest step of the session not yet in storage (held or on disk): the state its next step continues from.</summary>
    public SpooledStep? Newest(string sessionId)
    {
        var held = Held(sessionId) is { Count: > 0 } list ? list[^1].Step : null;
        var onDisk = spool.Latest(sessionId);
        return held is null ? onDisk : onDisk is null || string.CompareOrdinal(held.Id, onDisk.Id) > 0 ? held : onDisk;
    }

    /// <summary>Keeps a step that cannot be stored now: on disk, or in memory behind held steps of its call or when the disk fails.</summary>
    public void Keep(SpooledStep step, AnsweredTicket? ticket)
    {
        ArgumentNullException.ThrowIfNull(step);
        if (!_held.ContainsKey(step.SessionId))
        {
            try
            {
                spool.Append(step);
                ticket?.Release();
                CallMetrics.Spooled.Add(1);
                LogSpooled(logger, step.SessionId, step.Trace.Count + step.ModeChanges.Count);
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                LogSpoolFailed(logger, ex.GetType().Name, step.SessionId);
            }
        }

        if (Interlocked.Increment(ref _heldCount) > maxHeld)
        {
            Interlocked.Decrement(ref _heldCount);
            CallMetrics.Lost.Add(1);
            LogHeldLost(logger, step.SessionId, 1);
            return;
        }

        var list = _held.GetOrAdd(step.SessionId, static _ => []);
        lock (list)
        {
            list.Add(new WaitingStep(step, ticket, OnDisk: false));
        }

        CallMetrics.Held.Add(1);
        LogHeld(logger, step.SessionId, step.Trace.Count + step.ModeChanges.Count);
    }

    /// <summary>Calls with steps waiting, on disk or in memory, in id order.</summary>
    public IReadOnlyList<string> Sessions() => [.. spool.PendingSessions().Union(_held.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>The session's waiting steps in spool order, held ones moved to disk first where it takes them.</summary>
    public IReadOnlyList<WaitingStep> Waiting(string sessionId)
    {
        MoveHeldToDisk(sessionId);
        return [.. spool.Pending(sessionId).Select(s => new WaitingStep(s, null, OnDisk: true)).Concat(Held(sessionId)).OrderBy(w => w.Step.Id, StringComparer.Ordinal)];
    }

    /// <summary>The step is in storage: off the disk or out of memory.</summary>
    public void Stored(WaitingStep waiting)
    {
        ArgumentNullException.ThrowIfNull(waiting);
        if (waiting.OnDisk)
        {
            spool.Remove(waiting.Step);
            return;
        }

        Remove(waiting.Step.SessionId, w => w.Step.Id == waiting.Step.Id, release: true);
    }

    /// <summary>Storage refuses the step for good: moved aside on disk (for an operator), or lost from memory (counted).</summary>
    public void Refused(WaitingStep waiting, string reason)
    {
        ArgumentNullException.ThrowIfNull(waiting);
        if (waiting.OnDisk)
        {
            spool.Quarantine(waiting.Step, reason);
            return;
        }

        CallMetrics.Lost.Add(1);
        Remove(waiting.Step.SessionId, w => w.Step.Id == waiting.Step.Id, release: true);
    }

    /// <summary>Erasure: every waiting step of the session is forgotten, on disk and in memory, with its answered events.</summary>
    public void Drop(string sessionId)
    {
        spool.Erase(sessionId);
        Remove(sessionId, static _ => true, release: true);
    }

    /// <summary>
    /// Shutdown: held steps get one last try at the disk; what it does not take is lost (counted). Their answered
    /// events stay on disk, if they got there, for the next start to record.
    /// </summary>
    public void LastTry(string sessionId)
    {
        MoveHeldToDisk(sessionId);
        if (Remove(sessionId, static _ => true, release: false) is var lost and > 0)
        {
            CallMetrics.Lost.Add(lost);
            LogHeldLost(logger, sessionId, lost);
        }
    }

    /// <summary>Calls with steps held in memory.</summary>
    public IReadOnlyList<string> HeldSessions() => [.. _held.Keys];

    /// <summary>Moves the session's held steps to the spool, in order, while the disk takes them (each keeps its id, so its place).</summary>
    private void MoveHeldToDisk(string sessionId)
    {
        foreach (var held in Held(sessionId))
        {
            try
            {
                spool.Append(held.Step);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return;
            }

            Remove(sessionId, w => w.Step.Id == held.Step.Id, release: true);
            CallMetrics.Spooled.Add(1);
        }
    }

    private List<WaitingStep> Held(string sessionId)
    {
        if (!_held.TryGetValue(sessionId, out var list))
        {
            return [];
        }

        lock (list)
        {
            return [.. list];
        }
    }

    /// <summary>
    /// The one place held steps leave memory (to disk, to storage, refused, erased, lost at shutdown): the count and the
    /// per-call list stay in step, and an emptied list goes. <paramref name="release"/>: their step is durable or gone
    /// for good, so the answered events they record are released too.
    /// </summary>
    private int Remove(string sessionId, Predicate<WaitingStep> which, bool release)
    {
        if (!_held.TryGetValue(sessionId, out var list))
        {
            return 0;
        }

        List<WaitingStep> removed;
        lock (list)
        {
            removed = list.FindAll(which);
            list.RemoveAll(which);
            Interlocked.Add(ref _heldCount, -removed.Count);
            if (list.Count == 0)
            {
                _held.TryRemove(new KeyValuePair<string, List<WaitingStep>>(sessionId, list));
            }
        }

        if (release)
        {
            foreach (var step in removed)
            {
                step.Ticket?.Release();
            }
        }

        return removed.Count;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: {Rows} rows spooled to local disk")]
    private static partial void LogSpooled(ILogger logger, string sessionId, int rows);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: the step could not be spooled ({Error}); kept in memory until storage or the spool takes it")]
    private static partial void LogSpoolFailed(ILogger logger, string error, string sessionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: {Rows} rows held in memory")]
    private static partial void LogHeld(ILogger logger, string sessionId, int rows);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Session {SessionId}: {Steps} steps could be neither stored, spooled nor held; they are lost")]
    private static partial void LogHeldLost(ILogger logger, string sessionId, int steps);
}
