using Microsoft.Extensions.Options;
using VoiceFunctions.Hosting;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>Moves spooled steps into Table Storage as soon as it answers again, also right after a restart.</summary>
public sealed partial class SpoolReplayService(CallHandler calls, SpoolReplay replay, AnsweredJournal journal, IOptions<SpoolOptions> options, TimeProvider time, ShutdownBudget shutdown, ILogger<SpoolReplayService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await replay.RunAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Never let the replayer stop the host (an unhandled BackgroundService exception would): the calls
                // are still being served; log, and try again on the next round.
                LogReplayFailed(logger, ex);
            }

            try
            {
                await Task.Delay(options.Value.ReplayInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Start-up: events a killed process answered but did not record are spooled before anything else (disk only).</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await journal.RecoverAsync().ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Graceful stop: recordings still running finish first (they end in storage or the spool), within what the
    /// host's grace period leaves; telemetry is flushed after this, with the rest (Hosting/ShutdownBudget.cs).
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await calls.DrainAsync(shutdown.Remaining).ConfigureAwait(false);
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Replaying the spool failed; retrying")]
    private static partial void LogReplayFailed(ILogger logger, Exception exception);
}
