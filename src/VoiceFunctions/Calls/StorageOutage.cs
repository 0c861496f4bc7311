using Azure;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>
/// Whether Table Storage is in an outage as this instance sees it: after a transient failure, new steps go straight to
/// the <see cref="OutageBuffer"/> for <see cref="Hold"/> instead of waiting on a dead service; a successful replay ends it.
/// </summary>
public sealed partial class StorageOutage(TimeProvider time, ILogger<StorageOutage> logger)
{
    public static readonly TimeSpan Hold = TimeSpan.FromSeconds(2);

    /// <summary>Timestamp of the last storage failure; 0 = none since the last successful replay.</summary>
    private long _lastFailure;

    public bool RecentlyFailed =>
        Interlocked.Read(ref _lastFailure) is var failed and not 0 && time.GetElapsedTime(failed) < Hold;

    /// <summary>A storage operation for a call failed: logged; an outage only if the failure is transient.</summary>
    public void Failed(Exception ex, string sessionId, string eventType)
    {
        if (StorageFailures.IsTransient(ex))
        {
            // Outage mode only for an outage: one call's unstorable step says nothing about storage.
            Started();
        }

        var status = (ex as RequestFailedException)?.Status ?? 0;
        var error = ex.GetType().Name;
        LogStorageFailed(logger, sessionId, eventType, status, error);
    }

    /// <summary>Storage failed where no call is waiting (replay, completing erasures).</summary>
    public void Started() => Interlocked.Exchange(ref _lastFailure, time.GetTimestamp());

    public void Ended() => Interlocked.Exchange(ref _lastFailure, 0);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: storing {EventType} failed (status {Status}, {Error}); spooling")]
    private static partial void LogStorageFailed(ILogger logger, string sessionId, string eventType, int status, string error);
}
