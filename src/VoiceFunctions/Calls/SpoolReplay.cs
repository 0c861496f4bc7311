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
            var slot = cache.Get(sessionId);
            await slot.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                foreach (var waiting in buffer.Waiting(sessionId))
                {
                    try
                    {
                        using var timeout = new CancellationTokenSource(options.Value.StorageOperationTimeout, time);
                        await store.ApplySpooledAsync(waiting.Step, timeout.Token).ConfigureAwait(false);
                        CallMetrics.Replayed.Add(1);
                        replayed++;
                        buffer.Stored(waiting);
                        if (waiting.Step.Trace.Any(t => t.Kind == TraceKinds.SessionEnd))
                        {
                            notes?.CallEnded(sessionId); // the call's end is stored now: its notes are requested (issue 21)
                        }
                    }
                    catch (Exception ex) when (StorageFailures.IsPermanent(ex))
                    {
                        var reason = StorageFailures.Reason(ex);
                        LogReplayRefused(logger, sessionId, reason);
                        buffer.Refused(waiting, reason);
                    }
                }

                // Drained: the next event reads the stored row (and its ETag) again.
                slot.Spooling = false;
                slot.Loaded = false;
                outage.Ended();
            }
            catch (SessionConflictException)
            {
                // Other instances kept writing this call while its step was re-based: storage works, the step waits
                // (still first in its call's line) for the next round; the other calls go on.
                LogReplayConflicted(logger, sessionId);
            }
            catch (Exception ex) when (StorageFailures.IsStorageFailure(ex))
            {
                outage.Started();
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

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: storage refused a waiting step for good ({Reason}); moved aside, the replay goes on")]
    private static partial void LogReplayRefused(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replay for session {SessionId} deferred: other writers kept changing the call")]
    private static partial void LogReplayConflicted(ILogger logger, string sessionId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replay for session {SessionId} deferred: storage still failing ({Error})")]
    private static partial void LogReplayDeferred(ILogger logger, string sessionId, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} spooled steps replayed into Table Storage")]
    private static partial void LogReplayed(ILogger logger, int count);
}
