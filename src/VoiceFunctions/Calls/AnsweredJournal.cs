using VoiceFunctions.AiFlow;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>
/// The answered-event journal: an event answered at the budget before its step was durable waits on disk
/// (<see cref="AnsweredTicket.Keep"/>) until its step is stored or spooled, and a process killed in between leaves it
/// there for the next start, which decides it again and spools it (<see cref="RecoverAsync"/>).
/// </summary>
public sealed partial class AnsweredJournal(SessionSpool spool, CallFlow flow, ILogger<AnsweredJournal> logger)
{
    private Task? _recovery;

    /// <summary>The event's claim on the disk, for as long as it is answered but not yet recorded.</summary>
    public AnsweredTicket Open(string sessionId, AiFlowEvent evt, DateTimeOffset receivedAt) => new(spool, sessionId, evt, receivedAt);

    /// <summary>
    /// Events a previous process answered but did not live to record (killed while storage hung): each is decided
    /// again from the newest spooled state of its call and spooled, marked with its event id, before this process
    /// records anything — the replay then stores it after what is stored, or skips it if its step got there first.
    /// Disk only, so it never waits on storage. Runs once per process.
    /// </summary>
    public Task RecoverAsync() => LazyInitializer.EnsureInitialized(ref _recovery, () => Task.Run(Recover));

    private void Recover()
    {
        var recovered = 0;
        try
        {
            foreach (var answered in spool.Answered())
            {
                try
                {
                    recovered += Recover(answered) ? 1 : 0;
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

    private bool Recover(AnsweredEvent answered)
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

    [LoggerMessage(Level = LogLevel.Error, Message = "Events answered by a previous process could not be read from the spool ({Error}); they stay for the next start")]
    private static partial void LogRecoveryFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} events answered by a previous process that died before recording them were spooled for replay")]
    private static partial void LogRecovered(ILogger logger, int count);
}

/// <summary>
/// An event's claim on the disk while it is answered but not yet recorded. <see cref="Keep"/> (the late answer)
/// and <see cref="Release"/> (the recording: stored, spooled, or nothing to write) may race; whichever comes second
/// sees the other's work, so a kept event is removed once its step is durable, and never kept after.
/// </summary>
public sealed class AnsweredTicket(SessionSpool spool, string sessionId, AiFlowEvent evt, DateTimeOffset receivedAt)
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
