using Microsoft.Extensions.Options;
using VoiceFunctions.Calls;

namespace VoiceFunctions.Sessions;

/// <summary>Section <c>Retention</c>: transcripts are personal data and are kept only this long.</summary>
public sealed class RetentionOptions
{
    public const string Section = "Retention";

    /// <summary>Ten years: far beyond any retention policy, and the cut-off date stays representable.</summary>
    public const int MaxDays = 3650;

    /// <summary>Sessions that started longer ago than this are purged (default 30 days).</summary>
    public int Days { get; set; } = 30;

    /// <summary>At most this many sessions per run, so one timer invocation stays short; the next run continues.</summary>
    public int BatchSize { get; set; } = 500;
}

/// <summary>Purges old sessions (rows and spooled steps) in bounded batches; run by the timer function.</summary>
public sealed partial class RetentionPurge(SessionStore store, CallErasure erasure, TimeProvider time, IOptions<RetentionOptions> options, ILogger<RetentionPurge> logger)
{
    public async Task<RetentionResult> RunAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow().AddDays(-options.Value.Days);
        // Every row of an expired call, orphans included (trace rows without a session row), and erasure markers once
        // the retention period has passed since the erasure: nothing of these calls is kept, the marker neither.
        var ids = await store.CallsOlderThanAsync(cutoff, options.Value.BatchSize, cancellationToken).ConfigureAwait(false);
        foreach (var id in ids)
        {
            await erasure.PurgeAsync(id, cancellationToken).ConfigureAwait(false);
        }

        var result = new RetentionResult(ids.Count, cutoff, ids.Count == options.Value.BatchSize);
        LogPurged(logger, result.Purged, options.Value.Days, result.MoreLeft);
        return result;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention: purged {Count} sessions with rows older than {Days} days (more left: {MoreLeft})")]
    private static partial void LogPurged(ILogger logger, int count, int days, bool moreLeft);
}

public sealed record RetentionResult(int Purged, DateTimeOffset Cutoff, bool MoreLeft);
