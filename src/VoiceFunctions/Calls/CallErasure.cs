using Microsoft.Extensions.Options;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>
/// Erasing a call: its rows in storage, its waiting steps (<see cref="OutageBuffer"/>), its answered events and its
/// cached state. In storage the session row is replaced by an erasure marker that every instance's commits and replays
/// honour (<see cref="SessionTable.ErasedProperty"/>), kept for the retention period. While storage is away the erasure is kept as a tombstone on disk — the call reads as gone and nothing
/// of it is recorded or replayed — and completed by the replay (<see cref="CompleteKeptAsync"/>).
/// </summary>
public sealed partial class CallErasure(
    SessionStore store,
    SessionSpool spool,
    OutageBuffer buffer,
    SessionCache cache,
    StorageOutage outage,
    TimeProvider time,
    IOptions<CallOptions> options,
    ILogger<CallErasure> logger)
{
    /// <summary>A whole call's rows are deleted in transactions of 100: give a long call time (the erasure is not on a call's path).</summary>
    private static readonly TimeSpan CompletionTimeout = TimeSpan.FromSeconds(30);

    /// <summary>True while an erasure of the session has been accepted but storage has not done it yet: the call reads as gone.</summary>
    public bool IsPending(string sessionId) => spool.IsErased(sessionId);

    /// <summary>
    /// Erasure: the session's rows, its spooled, held and answered-but-unrecorded steps and its cached state. True when
    /// done; false when storage is away and the erasure was kept (a tombstone on disk) to be completed by the replay.
    /// Idempotent.
    /// </summary>
    /// <exception cref="Exception">A storage failure when the erasure could not be kept either (the disk fails too).</exception>
    public Task<bool> EraseAsync(string sessionId, CancellationToken cancellationToken) => EraseAsync(sessionId, keepMarker: true, cancellationToken);

    /// <summary>
    /// Retention: as <see cref="EraseAsync(string, CancellationToken)"/>, but the call's erasure marker goes too (the
    /// call, or its erasure, is older than the retention period: nothing of it is kept).
    /// </summary>
    public Task<bool> PurgeAsync(string sessionId, CancellationToken cancellationToken) => EraseAsync(sessionId, keepMarker: false, cancellationToken);

    private async Task<bool> EraseAsync(string sessionId, bool keepMarker, CancellationToken cancellationToken)
    {
        var slot = cache.Get(sessionId);
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

            buffer.Drop(sessionId);

            // Events already waiting on this slot must not write the erased state back: they start afresh.
            slot.Set(null, null, slot.BaseKnown, loaded: false);
            slot.Spooling = false;
            cache.Forget(sessionId);
            if (kept && outage.RecentlyFailed)
            {
                LogErasureKept(logger, sessionId, "outage");
                return false; // no need to wait on a dead service: the replay completes it
            }

            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(options.Value.StorageOperationTimeout * 3);
                await store.DeleteAsync(sessionId, time.GetUtcNow(), keepMarker, timeout.Token).ConfigureAwait(false);
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

    /// <summary>Erasures accepted while storage was away, done now. False when storage still fails (the replay waits too).</summary>
    public async Task<bool> CompleteKeptAsync(CancellationToken cancellationToken)
    {
        foreach (var sessionId in spool.Tombstones())
        {
            var slot = cache.Get(sessionId);
            await slot.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                buffer.Drop(sessionId);
                using var timeout = new CancellationTokenSource(CompletionTimeout, time);
                await store.DeleteAsync(sessionId, time.GetUtcNow(), keepMarker: true, timeout.Token).ConfigureAwait(false);
                spool.RemoveTombstone(sessionId);
                LogErasureCompleted(logger, sessionId);
            }
            catch (Exception ex) when (StorageFailures.IsPermanent(ex))
            {
                // Not an outage: the tombstone stays (the call reads as gone) and the other calls' replay goes on.
                LogErasureRefused(logger, sessionId, StorageFailures.Reason(ex));
            }
            catch (Exception ex) when (StorageFailures.IsStorageFailure(ex))
            {
                outage.Started();
                return false;
            }
            finally
            {
                slot.Lock.Release();
            }
        }

        return true;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: storage refused the kept erasure for good ({Reason}); the call still reads as gone, the replay goes on")]
    private static partial void LogErasureRefused(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: an erasure kept during a storage outage is done")]
    private static partial void LogErasureCompleted(ILogger logger, string sessionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: storage is away ({Error}); the erasure is kept and completed when it answers")]
    private static partial void LogErasureKept(ILogger logger, string sessionId, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: the erasure could not be kept on disk ({Error})")]
    private static partial void LogTombstoneFailed(ILogger logger, string sessionId, string error);
}
