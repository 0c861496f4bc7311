using Microsoft.Extensions.Options;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>
/// Moves what waited out an outage into Table Storage: first the erasures kept meanwhile, then each call's waiting
/// steps (<see cref="OutageBuffer"/>), oldest first, during the call's turn so its new events queue behind them.
/// Run by <see cref="SpoolReplayService"/> every <see cref="SpoolOptions.ReplayInterval"/>.
/// </summary>
public sealed partial class SpoolReplay(
    SessionStore store,
    OutageBuffer buffer,
    CallErasure erasure,
    SessionCache cache,
    StorageOutage outage,
    TimeProvider time,
    IOptions<CallOptions> options,
    ILogger<SpoolReplay> logger,
    Notes.NotesRequests? notes = null)
{
    /// <summary>
    /// Steps per transaction (and per turn of the call taken): a quarter of what one could hold (100 entities, every step
    /// at least one), because a live event of the call waits for the transaction under way. Measured on Azurite, on the
    /// loaded 2-core machine: 99 steps held the turn ~500 ms, live answers up to 640 ms (BudgetTests).
    /// </summary>
    public const int StepsPerTransaction = 25;

    /// <summary>
    /// Returns how many steps were written; stops at the first transient storage failure. A step storage refuses for
    /// good is moved aside (it would block its call forever and keep the instance in outage mode), and the replay goes on.
    /// </summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        if (!await erasure.CompleteKeptAsync(cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }

        var replayed = 0;
        foreach (var sessionId in buffer.Sessions())
        {
            var (written, storageFailed) = await ReplayCallAsync(sessionId, cancellationToken).ConfigureAwait(false);
            replayed += written;
            if (storageFailed)
            {
                break;
            }
        }

        if (replayed > 0)
        {
            LogReplayed(logger, replayed);
        }

        return replayed;
    }

    /// <summary>
    /// One call's waiting steps, oldest first, in chunks of one transaction each (<see cref="SessionStore.ApplySpooledChunkAsync"/>:
    /// the call read once, re-based in memory). The call's turn is taken per chunk, not for the whole backlog, so its live
    /// events are answered in time meanwhile (queued behind the waiting steps in the spool, as during the outage); the
    /// run ends when no step of the call waits any more, those included.
    /// </summary>
    private async Task<(int Written, bool StorageFailed)> ReplayCallAsync(string sessionId, CancellationToken cancellationToken)
    {
        var slot = cache.Get(sessionId);
        var cursor = new ReplayCursor(sessionId);
        IReadOnlyList<WaitingStep> waiting = [];
        var next = 0;
        var written = 0;
        while (true)
        {
            await slot.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (slot.Erased || erasure.IsPending(sessionId))
                {
                    return (written, false); // erased between chunks: the erasure removes what waits, nothing more is written
                }

                if (next >= waiting.Count)
                {
                    waiting = buffer.Waiting(sessionId); // with what the call's live events queued meanwhile
                    next = 0;
                    if (waiting.Count == 0)
                    {
                        // Drained: the next event reads the stored row (and its ETag) again.
                        slot.Spooling = false;
                        slot.Loaded = false;
                        outage.Ended();
                        return (written, false);
                    }
                }

                var chunk = waiting.Skip(next).Take(StepsPerTransaction).ToList();
                var done = await ApplyChunkAsync(sessionId, chunk, cursor, cancellationToken).ConfigureAwait(false);
                next += done;
                written += done;
            }
            catch (SessionConflictException)
            {
                // Other instances kept writing this call while its steps were re-based: storage works, the steps wait
                // (still first in their call's line) for the next round; the other calls go on.
                LogReplayConflicted(logger, sessionId);
                return (written, false);
            }
            catch (Exception ex) when (StorageFailures.IsStorageFailure(ex))
            {
                outage.Started();
                var error = ex.GetType().Name;
                LogReplayDeferred(logger, sessionId, error);
                return (written, true);
            }
            finally
            {
                slot.Lock.Release();
            }
        }
    }

    /// <summary>Writes the chunk (or its front) and takes what is done off the buffer; returns how many steps are done.</summary>
    private async Task<int> ApplyChunkAsync(string sessionId, List<WaitingStep> chunk, ReplayCursor cursor, CancellationToken cancellationToken)
    {
        int done;
        try
        {
            using var timeout = new CancellationTokenSource(options.Value.StorageOperationTimeout, time);
            done = await store.ApplySpooledChunkAsync([.. chunk.Select(w => w.Step)], cursor, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (StorageFailures.IsPermanent(ex))
        {
            // Storage refuses something in the chunk for good: its steps one by one, the refused one moved aside.
            return await ApplyOneByOneAsync(sessionId, chunk, cursor, cancellationToken).ConfigureAwait(false);
        }

        foreach (var waiting in chunk.Take(done))
        {
            Stored(sessionId, waiting);
        }

        CallMetrics.Replayed.Add(done);
        return done;
    }

    private async Task<int> ApplyOneByOneAsync(string sessionId, List<WaitingStep> chunk, ReplayCursor cursor, CancellationToken cancellationToken)
    {
        foreach (var waiting in chunk)
        {
            try
            {
                using var timeout = new CancellationTokenSource(options.Value.StorageOperationTimeout, time);
                await store.ApplySpooledAsync(waiting.Step, timeout.Token).ConfigureAwait(false);
                CallMetrics.Replayed.Add(1);
                Stored(sessionId, waiting);
            }
            catch (Exception ex) when (StorageFailures.IsPermanent(ex))
            {
                var reason = StorageFailures.Reason(ex);
                LogReplayRefused(logger, sessionId, reason);
                buffer.Refused(waiting, reason);
            }
        }

        cursor.Reset(); // written one by one: read the call again before the next chunk
        return chunk.Count;
    }

    private void Stored(string sessionId, WaitingStep waiting)
    {
        buffer.Stored(waiting);
        if (waiting.Step.Trace.Any(t => t.Kind == TraceKinds.SessionEnd))
        {
            notes?.CallEnded(sessionId); // the call's end is stored now: its notes are requested (issue 21)
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: storage refused a waiting step for good ({Reason}); moved aside, the replay goes on")]
    private static partial void LogReplayRefused(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replay for session {SessionId} deferred: other writers kept changing the call")]
    private static partial void LogReplayConflicted(ILogger logger, string sessionId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replay for session {SessionId} deferred: storage still failing ({Error})")]
    private static partial void LogReplayDeferred(ILogger logger, string sessionId, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} spooled steps replayed into Table Storage")]
    private static partial void LogReplayed(ILogger logger, int count);
}
