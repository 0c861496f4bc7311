using System.Threading.Channels;
using Microsoft.Extensions.Options;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Notes;

/// <summary>
/// Puts a call's notes request on the <c>call-notes</c> queue once its end is durable — off the answer path. The
/// <see cref="Calls.StepRecorder"/> (a stored <c>session_end</c>) and the <see cref="Calls.SpoolReplay"/> (one replayed
/// after an outage) only hand the call's id to this background loop (a channel write: no I/O on the answer path), which
/// claims the call (<see cref="SessionStore.ClaimNotesAsync"/>: the notes row's insert, so exactly one claimant per call)
/// and then sends the message. A repeated <c>session_end</c>, a replay, another instance or the sweep finds the claim and
/// sends nothing. What this loop cannot finish (storage away, the process killed between the end and the send) the
/// <see cref="NotesSweep"/> finds: an ended call without notes, or a claim whose message never came.
/// </summary>
public sealed partial class NotesRequests(SessionStore store, NotesQueueSender queue, TimeProvider time, IOptions<NotesOptions> options, ILogger<NotesRequests> logger) : BackgroundService
{
    /// <summary>Tries of one call's claim and send in this loop (storage or the queue failing), before the sweep takes over.</summary>
    private const int Tries = 3;

    private readonly Channel<string> _ended = Channel.CreateBounded<string>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private int _inFlight;

    /// <summary>The call's end is stored (committed or replayed): its notes request is to be sent. Never blocks, never throws.</summary>
    public void CallEnded(string sessionId)
    {
        if (options.Value.Enabled && !_ended.Writer.TryWrite(sessionId))
        {
            LogDropped(logger, sessionId); // the sweep finds it
        }
    }

    /// <summary>Claims the call's notes and sends the request; false when another claimant has it or there is no call.</summary>
    /// <param name="at">The request's time (the claim's <c>QueuedAt</c>); null: now.</param>
    /// <exception cref="Exception">A storage or queue failure (the sweep retries later).</exception>
    public async Task<bool> RequestAsync(string sessionId, string cause, CancellationToken cancellationToken, DateTimeOffset? at = null)
    {
        var when = at ?? time.GetUtcNow();
        var claim = await store.ClaimNotesAsync(sessionId, cause, when, cancellationToken).ConfigureAwait(false);
        if (claim != NotesClaim.Claimed)
        {
            return false;
        }

        await SendAsync(sessionId, cause, when, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Sends the request of a call already claimed (the claim's own send, or the sweep's re-send).</summary>
    public async Task SendAsync(string sessionId, string cause, DateTimeOffset at, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await queue.SendAsync(new NotesRequest { CallId = sessionId, Cause = cause, At = at }, cancellationToken).ConfigureAwait(false);
                LogQueued(logger, sessionId, cause);
                return;
            }
            catch (Exception ex) when (attempt < Tries && ex is not OperationCanceledException && StorageFailures.IsStorageFailure(ex))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Whether a claim or send is still under way (tests, and a graceful stop).</summary>
    public bool Idle => Volatile.Read(ref _inFlight) == 0 && _ended.Reader.Count == 0;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var sessionId in _ended.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                Interlocked.Increment(ref _inFlight);
                try
                {
                    await RequestWithRetriesAsync(sessionId, stoppingToken).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref _inFlight);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: what is left is found by the sweep of the next instance.
        }
    }

    private async Task RequestWithRetriesAsync(string sessionId, CancellationToken stoppingToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await RequestAsync(sessionId, NotesCauses.Ended, stoppingToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException && ex is not OutOfMemoryException)
            {
                if (attempt >= Tries)
                {
                    // Not lost: the sweep finds an ended call without notes (or a claim whose message never came).
                    LogLeftToSweep(logger, ex, sessionId);
                    return;
                }

                await Task.Delay(TimeSpan.FromSeconds(attempt), time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: notes request queued (cause {Cause})")]
    private static partial void LogQueued(ILogger logger, string sessionId, string cause);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: the notes request could not be queued now; the notes sweep will")]
    private static partial void LogLeftToSweep(ILogger logger, Exception exception, string sessionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: too many notes requests waiting; the notes sweep will queue this one")]
    private static partial void LogDropped(ILogger logger, string sessionId);
}
