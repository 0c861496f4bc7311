using System.Globalization;
using Microsoft.Azure.Functions.Worker;
using NCrontab;
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

    /// <summary>
    /// Whether the host accepts <paramref name="schedule"/> as the timer's: NCRONTAB (with seconds unless it has
    /// exactly 5 fields), else a TimeSpan. As Azure/azure-webjobs-sdk-extensions reads it (commit 2e7550f7):
    /// TimerSchedule.Create and CronSchedule.TryCreate; the host refuses the function on anything else.
    /// </summary>
    public static bool IsSchedule(string schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var fields = schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        return CrontabSchedule.TryParse(schedule, new CrontabSchedule.ParseOptions { IncludingSeconds = fields != 5 }) is not null
            || TimeSpan.TryParse(schedule, CultureInfo.InvariantCulture, out _);
    }

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
