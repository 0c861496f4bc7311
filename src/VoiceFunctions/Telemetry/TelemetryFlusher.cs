using Microsoft.Extensions.Options;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace VoiceFunctions.Telemetry;

/// <summary>
/// Sends what is buffered when the host stops (scale-in, deployment): after the server has drained its
/// requests (ApplicationStopped), traces first (the request records), then the log records (custom events),
/// within <see cref="TelemetryOptions.ShutdownFlushTimeout"/> each.
/// </summary>
internal sealed partial class TelemetryFlusher(IServiceProvider services, IHostApplicationLifetime lifetime, IOptions<TelemetryOptions> options, ILogger<TelemetryFlusher> logger) : IHostedService
{
    private CancellationTokenRegistration _registration;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _registration = lifetime.ApplicationStopped.Register(Flush);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Flushes every provider; true when all of them finished in time.</summary>
    public bool Flush()
    {
        var timeout = (int)options.Value.ShutdownFlushTimeout.TotalMilliseconds;
        var traces = services.GetService<TracerProvider>()?.ForceFlush(timeout) ?? true;
        var logs = services.GetService<LoggerProvider>()?.ForceFlush(timeout) ?? true;
        var metrics = services.GetService<MeterProvider>()?.ForceFlush(timeout) ?? true;
        var done = traces && logs && metrics;
        if (!done)
        {
            LogFlushIncomplete(logger, timeout);
        }

        return done;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Telemetry was not completely sent within {TimeoutMs} ms at shutdown")]
    private static partial void LogFlushIncomplete(ILogger logger, int timeoutMs);
}
