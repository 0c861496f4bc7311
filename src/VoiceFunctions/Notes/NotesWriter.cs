using Azure;
using Microsoft.Extensions.Options;
using VoiceFunctions.Chat;
using VoiceFunctions.Personas;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Notes;

/// <summary>What one delivery of a notes request did.</summary>
public enum NotesOutcome
{
    /// <summary>This delivery wrote the notes (written, or failed with the reason).</summary>
    Written,

    /// <summary>They were final already (a redelivered or duplicate message): nothing written, nobody told again.</summary>
    AlreadyFinal,

    /// <summary>No such call, or it was erased: the call gets no notes.</summary>
    NoCall,

    /// <summary>Notes are switched off (<c>Notes:Enabled</c> false).</summary>
    Disabled,
}

/// <summary>
/// The <c>CallNotes</c> function's work for one queue message. Idempotent: the notes row's status is the check — once
/// <c>written</c> or <c>failed</c>, a redelivered message (the queue delivers at least once) writes nothing and tells
/// nobody; two deliveries racing each other write under the row's ETag, and the loser finds the winner's notes final.
/// The write also touches the session row conditionally, so a call erased meanwhile (on any instance) is never given
/// notes. Model output that never fits is stored as <c>failed</c> and the function returns normally (no crash loop);
/// only a storage failure throws, so the host retries the message (visibility timeout, then the poison queue).
/// </summary>
public sealed partial class NotesWriter(
    SessionStore store,
    PersonaCatalog personas,
    AssistantModel model,
    ModelNotes modelNotes,
    NotesTelemetry telemetry,
    NotesDelivery delivery,
    TimeProvider time,
    IOptions<NotesOptions> options,
    ILogger<NotesWriter> logger)
{
    /// <summary>Trace rows a notes run reads facts from (kind, digit, detail; no text): beyond it a call is cut short.</summary>
    public const int MaxFactRows = 20_000;

    private const int ConflictTries = 5;

    public async Task<NotesOutcome> WriteAsync(NotesRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!options.Value.Enabled)
        {
            return NotesOutcome.Disabled;
        }

        var sessionId = SessionIds.Canonical(request.CallId);
        var (session, stored) = await store.ReadNotesAsync(sessionId, cancellationToken).ConfigureAwait(false);
        if (session is null || session.Erased)
        {
            LogNoCall(logger, sessionId);
            return NotesOutcome.NoCall;
        }

        if (stored?.Notes.IsFinal == true)
        {
            LogAlreadyFinal(logger, sessionId, stored.Notes.Status);
            // Final, but maybe not yet acknowledged by the persona's receiver: this redelivery is the webhook's retry.
            await delivery.DeliverAsync(sessionId, personas.ByName(session.State.Persona), stored, cancellationToken).ConfigureAwait(false);
            return NotesOutcome.AlreadyFinal;
        }

        var notes = await MakeAsync(session.State, request, cancellationToken).ConfigureAwait(false);
        ETag? written;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                written = await store.WriteNotesAsync(sessionId, notes, session.ETag, stored?.ETag, stored?.QueuedAt, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (SessionConflictException) when (attempt < ConflictTries)
            {
                // Another delivery wrote first, the call's events moved the session row on, or it was erased: read again.
                (session, stored) = await store.ReadNotesAsync(sessionId, cancellationToken).ConfigureAwait(false);
                if (session is null || session.Erased)
                {
                    LogNoCall(logger, sessionId);
                    return NotesOutcome.NoCall;
                }

                if (stored?.Notes.IsFinal == true)
                {
                    LogAlreadyFinal(logger, sessionId, stored.Notes.Status);
                    return NotesOutcome.AlreadyFinal;
                }
            }
        }

        telemetry.Final(sessionId, session.State.Persona, notes);
        LogWritten(logger, sessionId, notes.Status, notes.Source ?? "none", notes.Error ?? "none");
        var persona = personas.ByName(session.State.Persona);
        if (persona.Notes.WebhookUrl is not null)
        {
            // The row's new ETag, for recording the receiver's acknowledgement (read only if the service did not say);
            // a failed POST throws (the queue retries).
            var delivered = written is { } etag ? new StoredNotes(notes, etag, stored?.QueuedAt) : (await store.ReadNotesAsync(sessionId, cancellationToken).ConfigureAwait(false)).Notes;
            if (delivered is not null)
            {
                await delivery.DeliverAsync(sessionId, persona, delivered, cancellationToken).ConfigureAwait(false);
            }
        }

        return NotesOutcome.Written;
    }

    /// <summary>
    /// The poison queue's message: the host gave up on the request after <c>maxDequeueCount</c> deliveries. The call's notes
    /// become <c>failed</c> (<c>error: poison</c>) unless they are final already, and it is counted.
    /// </summary>
    public async Task<NotesOutcome> PoisonedAsync(NotesRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        NotesTelemetry.CountPoisoned();
        var sessionId = SessionIds.Canonical(request.CallId);
        LogPoisoned(logger, sessionId);
        for (var attempt = 1; ; attempt++)
        {
            var (session, stored) = await store.ReadNotesAsync(sessionId, cancellationToken).ConfigureAwait(false);
            if (session is null || session.Erased)
            {
                return NotesOutcome.NoCall;
            }

            if (stored?.Notes.IsFinal == true)
            {
                return NotesOutcome.AlreadyFinal;
            }

            var failed = new CallNotes { Status = NotesStatus.Failed, At = time.GetUtcNow(), Cause = request.Cause, Error = "poison" };
            try
            {
                await store.WriteNotesAsync(sessionId, failed, session.ETag, stored?.ETag, stored?.QueuedAt, cancellationToken).ConfigureAwait(false);
                telemetry.Final(sessionId, session.State.Persona, failed);
                return NotesOutcome.Written;
            }
            catch (SessionConflictException) when (attempt < ConflictTries)
            {
            }
        }
    }

    /// <summary>The notes themselves: the trace's facts, and with a chat model for the persona, the model's reading of the words.</summary>
    private async Task<CallNotes> MakeAsync(SessionState session, NotesRequest request, CancellationToken cancellationToken)
    {
        var persona = personas.ByName(session.Persona);
        var facts = new TraceFacts();
        await foreach (var row in store.TraceFactsAsync(session.SessionId, MaxFactRows, cancellationToken).ConfigureAwait(false))
        {
            facts.Add(row);
        }

        var now = time.GetUtcNow();
        if (model.DeploymentFor(persona) is null)
        {
            // No model: only what the trace shows (voice-to-voice personas; a pipeline persona always has one).
            return facts.Apply(new CallNotes { Status = NotesStatus.Written, Source = NotesSource.Trace, At = now, Cause = request.Cause, Outcome = facts.Outcome }, session);
        }

        // Paged and bounded: the call's first rows and its newest, never the whole trace (NotesTranscript).
        var head = await store.ReadTracePageAsync(session.SessionId, 0, NotesTranscript.HeadRows, 256 * 1024, row => 64 + (row.Text?.Length ?? 0), cancellationToken).ConfigureAwait(false);
        var from = Math.Max(head.Rows.Count == 0 ? 0 : head.Rows[^1].Seq, facts.LastSeq - NotesTranscript.TailRows);
        var tail = head.More ? await store.ReadTraceRangeAsync(session.SessionId, from, facts.LastSeq, cancellationToken).ConfigureAwait(false) : [];
        var transcript = NotesTranscript.Build(head.Rows, tail, options.Value.PromptChars);
        var result = await modelNotes.WriteAsync(persona, session, transcript, facts, cancellationToken).ConfigureAwait(false);
        var notes = result.Notes is { } written
            ? written with { At = now, Model = result.Deployment, Cause = request.Cause }
            : new CallNotes { Status = NotesStatus.Failed, Source = NotesSource.Model, Model = result.Deployment, At = now, Cause = request.Cause, Error = result.Error };
        return facts.Apply(notes, session);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: no notes (no such call, or it was erased)")]
    private static partial void LogNoCall(ILogger logger, string sessionId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: notes already {Status}; a repeated request changes nothing")]
    private static partial void LogAlreadyFinal(ILogger logger, string sessionId, string status);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: notes {Status} (source {Source}, error {Error})")]
    private static partial void LogWritten(ILogger logger, string sessionId, string status, string source, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: its notes request reached the poison queue; notes not final yet are marked failed, final ones stay")]
    private static partial void LogPoisoned(ILogger logger, string sessionId);
}
