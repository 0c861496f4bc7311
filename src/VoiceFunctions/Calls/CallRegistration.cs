using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

public static class CallRegistration
{
    public static IServiceCollection AddCalls(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<CallFlow>();
        services.AddOptions<CallOptions>().Bind(configuration.GetSection(CallOptions.Section))
            .Validate(o => o.ResponseBudget > TimeSpan.Zero && o.ResponseBudget <= TimeSpan.FromSeconds(5), "Calls:ResponseBudget must be between 0 and 5 seconds.")
            .Validate(o => o.StorageOperationTimeout > TimeSpan.Zero, "Calls:StorageOperationTimeout must be positive.")
            .Validate(o => o.DuplicateWindow >= TimeSpan.Zero, "Calls:DuplicateWindow must not be negative.")
            .ValidateOnStart();
        services.AddOptions<SpoolOptions>().Bind(configuration.GetSection(SpoolOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SpoolOptions>, SpoolValidation>();
        services.PostConfigure<SpoolOptions>(spool => spool.Path ??= SpoolOptions.DefaultFolder());
        services.AddOptions<RetentionOptions>().Bind(configuration.GetSection(RetentionOptions.Section))
            .Validate(o => o.Days >= 1, "Retention:Days must be at least 1.")
            .Validate(o => o.BatchSize is >= 1 and <= 10_000, "Retention:BatchSize must be between 1 and 10000.")
            // The Functions host resolves the timer's schedule from this setting and refuses the function without it.
            .Validate(_ => !string.IsNullOrWhiteSpace(configuration[VoiceFunctions.Functions.RetentionFunction.ScheduleSetting]), $"{VoiceFunctions.Functions.RetentionFunction.ScheduleSetting} is required: the retention timer's NCRONTAB schedule, e.g. \"0 0 3 * * *\" (daily at 03:00 UTC).")
            .ValidateOnStart();
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
