using Microsoft.Extensions.Options;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Notes;

/// <summary>What one sweep did.</summary>
public sealed record NotesSweepResult(int Idle, int Ended, int Requeued, int Redelivered);

/// <summary>
/// The <c>CallNotesIdleSweep</c> timer's work: over the calls started within <c>Notes:SweepWindow</c>, it requests notes for
/// <list type="bullet">
/// <item>a call silent longer than <c>Notes:IdleAfter</c> without <c>session_end</c> (cause <c>idle</c>): its last write,
/// the session row's or a later trace row's service timestamp, is that old;</item>
/// <item>an ended call without a notes row a minute after its end (cause <c>ended</c>): the live request was lost (the
/// process killed before it, storage away for all its tries);</item>
/// <item>a call whose notes are still pending <c>Notes:RequeueAfter</c> after its request was queued (the message lost
/// between the claim and the send): queued again, once per period — the claim is renewed under the notes row's ETag, so
/// of two overlapping sweeps one sends;</item>
/// <item>a call whose final notes the persona's receiver has not acknowledged <c>Notes:WebhookRetryAfter</c> after their
/// last request (it was down for every delivery of it): requested again, under the same ETag claim, so the
/// <c>CallNotes</c> run posts them again.</item>
/// </list>
/// Every request goes through the same claim as the live one, so a call is never claimed twice.
/// </summary>
public sealed partial class NotesSweep(SessionStore store, NotesRequests requests, Personas.PersonaCatalog personas, TimeProvider time, IOptions<NotesOptions> options, ILogger<NotesSweep> logger)
{
    /// <summary>How long an ended call is left to the live request before the sweep steps in.</summary>
    public static readonly TimeSpan EndedGrace = TimeSpan.FromMinutes(1);

    public async Task<NotesSweepResult> RunAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (!o.Enabled)
        {
            return new NotesSweepResult(0, 0, 0, 0);
        }

        var now = time.GetUtcNow();
        int idle = 0, ended = 0, requeued = 0, redelivered = 0;
        await foreach (var call in store.CallsForNotesSweepAsync(now - o.SweepWindow, cancellationToken).ConfigureAwait(false))
        {
            if (call.Session is not { Erased: false } session)
            {
                continue; // erased (or notes without a call): never given notes
            }

            if (call.Notes is { } notes)
            {
                // Pending: the request was lost; final but unacknowledged: the receiver was down. Either is asked again.
                var pending = notes.Notes.Status == NotesStatus.Pending;
                TimeSpan? again = pending ? o.RequeueAfter : Undelivered(notes, session) ? o.WebhookRetryAfter : null;
                if (again is { } after && (notes.QueuedAt ?? notes.Notes.At) < now - after &&
                    await store.RequeueNotesAsync(call.SessionId, notes, now, cancellationToken).ConfigureAwait(false))
                {
                    await requests.SendAsync(call.SessionId, notes.Notes.Cause ?? NotesCauses.Ended, now, cancellationToken).ConfigureAwait(false);
                    if (pending)
                    {
                        requeued++;
                    }
                    else
                    {
                        redelivered++;
                    }
                }

                continue;
            }

            if (session.State.EndedAt is { } endedAt)
            {
                if (endedAt < now - EndedGrace && await requests.RequestAsync(call.SessionId, NotesCauses.Ended, cancellationToken, now).ConfigureAwait(false))
                {
                    ended++;
                }

                continue;
            }

            if (session.State.StartedAt < now - o.IdleAfter &&
                await store.LastActivityAsync(session, cancellationToken).ConfigureAwait(false) is { } last && last < now - o.IdleAfter &&
                await requests.RequestAsync(call.SessionId, NotesCauses.Idle, cancellationToken, now).ConfigureAwait(false))
            {
                idle++;
            }
        }

        LogSwept(logger, idle, ended, requeued, redelivered);
        return new NotesSweepResult(idle, ended, requeued, redelivered);
    }

    /// <summary>Final notes the call's persona has a receiver for, and that receiver has not acknowledged.</summary>
    private bool Undelivered(StoredNotes notes, NotesSession session) =>
        notes.Notes.IsFinal && notes.Notes.NotifiedAt is null && personas.ByName(session.State.Persona).Notes.WebhookUrl is not null;

    [LoggerMessage(Level = LogLevel.Information, Message = "Notes sweep: {Idle} idle calls, {Ended} ended calls without a request, {Requeued} lost requests queued again, {Redelivered} unacknowledged notes sent to the webhook again")]
    private static partial void LogSwept(ILogger logger, int idle, int ended, int requeued, int redelivered);
}
