using VoiceFunctions.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

public static class CallRegistration
{
    /// <summary>
    /// Pool threads ready without the pool's injection delay. In an outage every call's step is written to the spool
    /// and flushed to disk (fsync), synchronously — .NET has no asynchronous flush to disk — on a pool thread; with many
    /// calls at once those block every thread the pool has on a 2-core instance (a minimum of 2), and the deadlines'
    /// timers, which answer the calls, queue behind them until the pool adds a thread about every half second (200 calls
    /// while storage hung: one answer at 1,084 ms; BudgetTests, issue 23 item 7). Threads above the minimum are still
    /// retired when idle.
    /// </summary>
    internal const int MinPoolThreads = 64;

    public static IServiceCollection AddCalls(this IServiceCollection services, IConfiguration configuration)
    {
        ThreadPool.GetMinThreads(out var workers, out var completions);
        ThreadPool.SetMinThreads(Math.Max(workers, MinPoolThreads), completions);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<CallFlow>();
        services.AddOptions<CallOptions>().BindChecked(configuration, CallOptions.Section)
            .Validate(o => o.ResponseBudget > TimeSpan.Zero && o.ResponseBudget <= TimeSpan.FromSeconds(5), "Calls:ResponseBudget must be between 0 and 5 seconds.")
            .Validate(o => o.StorageOperationTimeout > TimeSpan.Zero, "Calls:StorageOperationTimeout must be positive.")
            .Validate(o => o.DuplicateWindow >= TimeSpan.Zero, "Calls:DuplicateWindow must not be negative.")
            .ValidateOnStart();
        services.AddOptions<SpoolOptions>().BindChecked(configuration, SpoolOptions.Section);
        services.AddSingleton<IValidateOptions<SpoolOptions>, SpoolValidation>();
        services.PostConfigure<SpoolOptions>(spool => spool.Path ??= SpoolOptions.DefaultFolder());
        services.AddOptions<RetentionOptions>().BindChecked(configuration, RetentionOptions.Section)
            .Validate(o => o.Days is >= 1 and <= RetentionOptions.MaxDays, $"Retention:Days must be between 1 and {RetentionOptions.MaxDays}.")
            .Validate(o => o.BatchSize is >= 1 and <= 10_000, "Retention:BatchSize must be between 1 and 10000.")
            // The Functions host resolves the timer's schedule from this setting and refuses the function without it.
            .Validate(_ => !string.IsNullOrWhiteSpace(configuration[VoiceFunctions.Functions.RetentionFunction.ScheduleSetting]), $"{VoiceFunctions.Functions.RetentionFunction.ScheduleSetting} is required: the retention timer's NCRONTAB schedule, e.g. \"0 0 3 * * *\" (daily at 03:00 UTC).")
            .Validate(_ => configuration[VoiceFunctions.Functions.RetentionFunction.ScheduleSetting] is not { } schedule || string.IsNullOrWhiteSpace(schedule) || VoiceFunctions.Functions.RetentionFunction.IsSchedule(schedule), $"{VoiceFunctions.Functions.RetentionFunction.ScheduleSetting} is not a schedule the Functions host accepts: an NCRONTAB expression with 6 fields (seconds first, e.g. \"0 0 3 * * *\") or 5, or a time span (e.g. \"1.00:00:00\").");
        services.AddSingleton<SessionSpool>();
        services.AddSingleton<SessionCache>();
        services.AddSingleton<StorageOutage>();
        services.AddSingleton<OutageBuffer>();
        services.AddSingleton<AnsweredJournal>();
        services.AddSingleton<CallErasure>();
        services.AddSingleton<StepRecorder>();
        services.AddSingleton<ModelReplies>();
        services.AddSingleton<SpoolReplay>();
        services.AddSingleton<CallHandler>();
        services.AddSingleton<RetentionPurge>();
        services.AddHostedService<SpoolReplayService>();
        services.TryAddSingleton<CallTelemetry>();
        return services;
    }
}
