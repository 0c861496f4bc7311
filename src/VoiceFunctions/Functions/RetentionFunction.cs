using Microsoft.Azure.Functions.Worker;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Functions;

/// <summary>
/// The retention purge as a timer: schedule from the app setting <c>RetentionSchedule</c> (NCRONTAB, daily at
/// 03:00 UTC in infra/ and local.settings.json.example), resolved by the Functions host. A flat name, unlike the
/// other settings: nested names (<c>Section__Key</c>) in a trigger's %setting% are reported not to resolve on Linux
/// (azure-functions-host#8649). Under the real host a timer takes a blob lease, so only one instance purges at a time.
/// </summary>
public sealed partial class RetentionFunction(RetentionPurge purge, ILogger<RetentionFunction> logger)
{
    public const string Name = "RetentionPurge";
    public const string ScheduleSetting = "RetentionSchedule";

    [Function(Name)]
    public async Task RunAsync([TimerTrigger("%" + ScheduleSetting + "%")] TimerInfo timer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(timer);
        var result = await purge.RunAsync(cancellationToken).ConfigureAwait(false);
        LogRun(logger, result.Purged, result.Cutoff, result.MoreLeft, timer.IsPastDue);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention run: purged {Count} sessions started before {Cutoff:O} (more left: {MoreLeft}, past due: {PastDue})")]
    private static partial void LogRun(ILogger logger, int count, DateTimeOffset cutoff, bool moreLeft, bool pastDue);
}
