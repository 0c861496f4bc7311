using VoiceFunctions.Hosting;
using Azure.Core;
using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.ApplicationInsights.WorkerService;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using VoiceFunctions.Calls;

namespace VoiceFunctions.Telemetry;

/// <summary>
/// Application Insights through Microsoft.ApplicationInsights.WorkerService 3 (OpenTelemetry inside), switched on
/// by <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c> (or <c>ApplicationInsights:ConnectionString</c>). Without it
/// nothing is registered: no exporter, no listener, no start-up work. See docs/observability.md.
/// </summary>
public static class TelemetryRegistration
{
    public const string ConnectionStringSetting = "APPLICATIONINSIGHTS_CONNECTION_STRING";
    public const string AuthenticationStringSetting = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING";

    /// <summary>The worker capability that tells the host not to write the worker's logs to Application Insights again.</summary>
    public const string WorkerLogsInApplicationInsightsCapability = "WorkerApplicationInsightsLoggingEnabled";

    /// <summary>Category of the TelemetryClient's custom events (it writes them as log records).</summary>
    private const string TelemetryClientCategory = "Microsoft.ApplicationInsights.TelemetryClient";

    public static IServiceCollection AddCallTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<TelemetryOptions>().BindChecked(configuration, TelemetryOptions.Section)
            .Validate(o => string.IsNullOrEmpty(o.TranscriptHashKey) || o.TranscriptHashKey.Length >= 16, "Telemetry:TranscriptHashKey must be at least 16 characters (or unset).")
            .Validate(o => o.ShutdownFlushTimeout > TimeSpan.Zero && o.ShutdownFlushTimeout <= TimeSpan.FromMinutes(1), "Telemetry:ShutdownFlushTimeout must be between 0 and 1 minute.")
            .ValidateOnStart();
        services.TryAddSingleton<TranscriptFingerprint>();
        services.TryAddSingleton<CallTelemetry>();

        var connectionString = ConnectionString(configuration);
        if (connectionString is null)
        {
            return services;
        }

        // Azure SDK clients (the Table client) report their calls through ActivitySource "Azure.*" only with this
        // switch; without it Table Storage calls would not appear as dependencies. Process-wide, read once by
        // Azure.Core on first use, so it is set before any client exists.
        AppContext.SetSwitch("Azure.Experimental.EnableActivitySource", true);

        var credential = Credential(configuration[AuthenticationStringSetting]);
        services.AddApplicationInsightsTelemetryWorkerService((ApplicationInsightsServiceOptions o) =>
        {
            o.ConnectionString = connectionString;
            o.Credential = credential;

            // No sampling: a call whose trace has holes is useless (see the exporter options below).
            o.SamplingRatio = 1f;
            o.TracesPerSecond = null;
        });

        // Applied after every other configuration, including OTEL_TRACES_SAMPLER(_ARG) from the environment:
        // the exporter's default is rate-limited sampling (5 traces/s), which under load drops whole requests
        // and, through the trace-based log sampler, the custom events logged inside them.
        services.PostConfigure<AzureMonitorExporterOptions>(o =>
        {
            o.SamplingRatio = 1f;
            o.TracesPerSecond = null;
            o.EnableTraceBasedLogsSampler = false;
        });

        // The worker-service package has no ASP.NET Core instrumentation: requests come from here.
        services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddAspNetCoreInstrumentation(o =>
        {
            o.RecordException = true; // the invocation id is tagged by the worker middleware (Hosting/InvocationScopeMiddleware)
        }));

        // Custom events are Information-level log records of this category: never filter them out, whatever
        // Logging:LogLevel says. Scopes carry the invocation id to every record of the request.
        services.AddLogging(logging => logging.AddFilter<OpenTelemetryLoggerProvider>(TelemetryClientCategory, LogLevel.Information));

        // The app's own Information records (retention runs, late answers, …) must reach Application Insights too,
        // not only Warning and above: a rule for this provider and the app's categories, stronger than defaults.
        services.AddLogging(logging => logging.AddFilter<OpenTelemetryLoggerProvider>("VoiceFunctions", LogLevel.Information));
        services.Configure<OpenTelemetryLoggerOptions>(o => o.IncludeScopes = true);

        services.AddHostedService<TelemetryFlusher>();

        // The host writes each log the worker sends it during an invocation (rpc_log) to Application Insights as a
        // trace of its own, a second copy of what the exporter sends, unless the worker advertises this capability;
        // then its telemetry processor drops them (the Log stream and FunctionAppLogs keep them). It is what
        // Worker.ApplicationInsights sets, which cannot be used with WorkerService 3.x. Sources: azure-functions-host
        // GrpcWorkerChannel (_isWorkerApplicationInsightsLoggingEnabled) and WorkerTraceFilterTelemetryProcessor,
        // commit 89dc438d; azure-functions-dotnet-worker FunctionsApplicationInsightsExtensions.cs, commit fb113332.
        services.Configure<WorkerOptions>(o => o.Capabilities[WorkerLogsInApplicationInsightsCapability] = bool.TrueString);

        // Spooled / replayed / late / lost counts (docs/reliability.md) as customMetrics.
        services.ConfigureOpenTelemetryMeterProvider(metrics => metrics.AddMeter(CallMetrics.MeterName));
        return services;
    }

    /// <summary>The connection string, or null when telemetry is off.</summary>
    public static string? ConnectionString(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var value = configuration[ConnectionStringSetting];
        if (string.IsNullOrWhiteSpace(value))
        {
            value = configuration["ApplicationInsights:ConnectionString"];
        }

        return string.IsNullOrWhiteSpace(value) ? null : value;
    }

    /// <summary>
    /// Entra ID ingestion, as the Functions host reads it: <c>Authorization=AAD</c> uses the managed identity,
    /// <c>ClientId=…</c> picks a user-assigned one. Anything else: instrumentation-key auth (null).
    /// The token is fetched on the first export, never at start-up.
    /// </summary>
    public static TokenCredential? Credential(string? authenticationString)
    {
        if (string.IsNullOrWhiteSpace(authenticationString))
        {
            return null;
        }

        string? authorization = null, clientId = null;
        foreach (var part in authenticationString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                continue;
            }

            var key = part[..eq].Trim();
            var value = part[(eq + 1)..].Trim();
            if (key.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
            {
                authorization = value;
            }
            else if (key.Equals("ClientId", StringComparison.OrdinalIgnoreCase))
            {
                clientId = value;
            }
        }

        if (!string.Equals(authorization, "AAD", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return new ManagedIdentityCredential(string.IsNullOrEmpty(clientId) ? ManagedIdentityId.SystemAssigned : ManagedIdentityId.FromUserAssignedClientId(clientId));
    }
}
