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
    private TracerProvider? _traces;
    private LoggerProvider? _logs;
    private MeterProvider? _metrics;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Resolved now: when ApplicationStopped fires, the container may already be on its way out.
        _traces = services.GetService<TracerProvider>();
        _logs = services.GetService<LoggerProvider>();
        _metrics = services.GetService<MeterProvider>();
        lifetime.ApplicationStopped.Register(() => Flush());
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Flushes every provider; true when all of them finished in time.</summary>
    public bool Flush()
    {
        var timeout = (int)options.Value.ShutdownFlushTimeout.TotalMilliseconds;
        var traces = _traces?.ForceFlush(timeout) ?? true;
        var logs = _logs?.ForceFlush(timeout) ?? true;
        var metrics = _metrics?.ForceFlush(timeout) ?? true;
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
