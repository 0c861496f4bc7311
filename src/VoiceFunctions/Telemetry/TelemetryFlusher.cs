using Microsoft.Extensions.Options;
using VoiceFunctions.Hosting;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace VoiceFunctions.Telemetry;

/// <summary>
/// Sends what is buffered when the host stops (scale-in, deployment): after the server has drained its
/// requests and the recordings have been drained (ApplicationStopped), traces first (the request records), then
/// the log records (custom events), then metrics, all within one deadline: <see cref="TelemetryOptions.ShutdownFlushTimeout"/>
/// or what the host's grace period still leaves (<see cref="ShutdownBudget"/>), whichever is shorter.
/// </summary>
internal sealed partial class TelemetryFlusher(IServiceProvider services, IHostApplicationLifetime lifetime, IOptions<TelemetryOptions> options, ShutdownBudget shutdown, TimeProvider time, ILogger<TelemetryFlusher> logger) : IHostedService
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
        var budget = options.Value.ShutdownFlushTimeout < shutdown.Remaining ? options.Value.ShutdownFlushTimeout : shutdown.Remaining;
        var start = time.GetTimestamp();
        TimeSpan Left()
        {
            var left = budget - time.GetElapsedTime(start);
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }

        // One deadline for the three, traces first (the request records), then the log records (custom events),
        // then metrics. Each ForceFlush runs on the pool and is waited for only until the deadline: with a hanging
        // ingestion endpoint it may block past its own timeout (measured: a log flush blocked behind a trace export).
        var traces = FlushWithin(_traces is { } t ? () => t.ForceFlush((int)Left().TotalMilliseconds) : null, Left());
        var logs = FlushWithin(_logs is { } l ? () => l.ForceFlush((int)Left().TotalMilliseconds) : null, Left());
        var metrics = FlushWithin(_metrics is { } m ? () => m.ForceFlush((int)Left().TotalMilliseconds) : null, Left());
        var done = traces && logs && metrics;
        if (!done)
        {
            LogFlushIncomplete(logger, (int)budget.TotalMilliseconds);
        }

        return done;
    }

    private static bool FlushWithin(Func<bool>? flush, TimeSpan left)
    {
        if (flush is null)
        {
            return true;
        }

        var flushing = Task.Run(flush);
        return flushing.Wait(left) && flushing.Result;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Telemetry was not completely sent within {TimeoutMs} ms at shutdown")]
    private static partial void LogFlushIncomplete(ILogger logger, int timeoutMs);
}
