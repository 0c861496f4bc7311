using Azure;
using Azure.Data.Tables;
using VoiceFunctions.Notes;

namespace VoiceFunctions.Sessions;

/// <summary>The session row as the notes need it: who called, when, and whether the call may be written at all.</summary>
/// <param name="Erased">An erasure marker: the call is never given notes.</param>
/// <param name="LastWrite">The service's time of the row's last write (its <c>Timestamp</c>).</param>
public sealed record NotesSession(SessionState State, ETag ETag, bool Erased, DateTimeOffset? LastWrite);

/// <summary>A call's notes row with the ETag a later write must match, and when its request was last put on the queue.</summary>
public sealed record StoredNotes(CallNotes Notes, ETag ETag, DateTimeOffset? QueuedAt);

/// <summary>What <see cref="SessionStore.ClaimNotesAsync"/> found.</summary>
public enum NotesClaim
{
    /// <summary>The notes row is added (pending): this caller, and only this one, puts the request on the queue.</summary>
    Claimed,

    /// <summary>Another step, replay, instance or sweep claimed the call first: nothing to enqueue.</summary>
    AlreadyClaimed,

    /// <summary>No such call, or it was erased: no notes.</summary>
    NoCall,
}

/// <summary>One call as the notes sweep sees it: its session row (null: none) and notes row (null: none).</summary>
public sealed record NotesSweepEntry(string SessionId, NotesSession? Session, StoredNotes? Notes);

/// <summary>
/// A call's notes (issue 21): one row, <c>notes</c>, in the call's partition — between <c>mode-…</c> and <c>session</c>, so the
/// read-back's first range query holds it, and a load (<c>RowKey ge session</c>) never reads it. Adding it is the claim
/// that makes exactly one writer enqueue a call's notes request; every write of it touches the session row conditionally
/// (an empty merge under the ETag just read, as a caller turn does), so nothing is written into a call erased meanwhile.
/// The erasure's delete pass and the retention purge (by <c>At</c>) remove it with the call.
/// </summary>
public sealed partial class SessionStore
{
    public const string NotesRowKey = "notes";

    private const int NotesConflictTries = 5;

    /// <summary>The session row as the notes need it (one point read); null when there is none.</summary>
    public Task<NotesSession?> ReadNotesSessionAsync(string sessionId, CancellationToken cancellationToken) =>
        WithTableAsync(() => ReadNotesSessionCoreAsync(sessionId, cancellationToken), cancellationToken);

    private async Task<NotesSession?> ReadNotesSessionCoreAsync(string sessionId, CancellationToken cancellationToken)
    {
        var row = await table.GetEntityIfExistsAsync<TableEntity>(sessionId, SessionTable.SessionRowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        return row.HasValue ? ToNotesSession(row.Value!) : null;
    }

    /// <summary>The session row and the notes row of a call (one range query: <c>notes</c> ≤ RowKey ≤ <c>session</c>).</summary>
    public Task<(NotesSession? Session, StoredNotes? Notes)> ReadNotesAsync(string sessionId, CancellationToken cancellationToken) =>
        WithTableAsync(() => ReadNotesCoreAsync(sessionId, cancellationToken), cancellationToken);

    private async Task<(NotesSession? Session, StoredNotes? Notes)> ReadNotesCoreAsync(string sessionId, CancellationToken cancellationToken)
    {
        NotesSession? session = null;
        StoredNotes? notes = null;
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {sessionId} and RowKey ge {NotesRowKey} and RowKey le {SessionTable.SessionRowKey}");
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (entity.RowKey == SessionTable.SessionRowKey)
            {
                session = ToNotesSession(entity);
            }
            else if (entity.RowKey == NotesRowKey)
            {
                notes = ToStoredNotes(entity);
            }
        }

        return (session, notes);
    }

    /// <summary>
    /// Claims a call's notes: adds its notes row (<see cref="NotesStatus.Pending"/>, queued at <paramref name="at"/>) in one
    /// transaction with an empty merge of the session row under the ETag just read. The row's key is the claim: a second
    /// claimant's add fails (409) and it enqueues nothing. An erased or unknown call is never claimed.
    /// </summary>
    public Task<NotesClaim> ClaimNotesAsync(string sessionId, string cause, DateTimeOffset at, CancellationToken cancellationToken) =>
        WithTableAsync(() => ClaimNotesCoreAsync(sessionId, cause, at, cancellationToken), cancellationToken);

    private async Task<NotesClaim> ClaimNotesCoreAsync(string sessionId, string cause, DateTimeOffset at, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var session = await ReadNotesSessionCoreAsync(sessionId, cancellationToken).ConfigureAwait(false);
            if (session is null || session.Erased)
            {
                return NotesClaim.NoCall;
            }

            var notes = ToEntity(sessionId, new CallNotes { Status = NotesStatus.Pending, At = at, Cause = cause }, queuedAt: at);
            try
            {
                await table.SubmitTransactionAsync(
                [
                    new TableTransactionAction(TableTransactionActionType.Add, notes),
                    new TableTransactionAction(TableTransactionActionType.UpdateMerge, new TableEntity(sessionId, SessionTable.SessionRowKey), session.ETag),
                ], cancellationToken).ConfigureAwait(false);
                return NotesClaim.Claimed;
            }
            catch (TableTransactionFailedException ex) when (ex.Status == 409)
            {
                return NotesClaim.AlreadyClaimed;
            }
            catch (TableTransactionFailedException ex) when ((ex.Status is 412 || (ex.Status == 404 && !IsTableNotFound(ex))) && attempt < NotesConflictTries)
            {
                // The call's own events moved the session row on (or an erasure replaced it): read it again.
            }
        }
    }

    /// <summary>
    /// Marks a pending call's request as put on the queue again at <paramref name="at"/>, under the notes row's ETag, so of
    /// several sweeps (instances, overlapping runs) exactly one re-enqueues. False: another got there first.
    /// </summary>
    public Task<bool> RequeueNotesAsync(string sessionId, StoredNotes notes, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notes);
        return MergeNotesTimeAsync(sessionId, notes.ETag, QueuedAtProperty, at, cancellationToken);
    }

    /// <summary>
    /// Writes a call's notes: the notes row replaced under <paramref name="notesETag"/> (added when there is none) and an
    /// empty merge of the session row under <paramref name="sessionETag"/>, one transaction. An erasure meanwhile (the
    /// marker replaced the row) or another writer fails it: <see cref="SessionConflictException"/>, read again.
    /// </summary>
    /// <returns>The notes row's new ETag (null when the service did not say).</returns>
    public Task<ETag?> WriteNotesAsync(string sessionId, CallNotes notes, ETag sessionETag, ETag? notesETag, DateTimeOffset? queuedAt, CancellationToken cancellationToken) =>
        WithTableAsync(async () =>
        {
            ArgumentNullException.ThrowIfNull(notes);
            var row = ToEntity(sessionId, notes, queuedAt);
            var actions = new List<TableTransactionAction>(2)
            {
                notesETag is { } tag
                    ? new TableTransactionAction(TableTransactionActionType.UpdateReplace, row, tag)
                    : new TableTransactionAction(TableTransactionActionType.Add, row),
                new(TableTransactionActionType.UpdateMerge, new TableEntity(sessionId, SessionTable.SessionRowKey), sessionETag),
            };
            TableLimits.CheckTransaction(actions);
            try
            {
                var response = await table.SubmitTransactionAsync(actions, cancellationToken).ConfigureAwait(false);
                return response.Value.Count > 0 ? response.Value[0].Headers.ETag : null;
            }
            catch (TableTransactionFailedException ex) when (ex.Status is 409 or 412 || (ex.Status == 404 && !IsTableNotFound(ex)))
            {
                throw new SessionConflictException(ex);
            }
        }, cancellationToken);

    /// <summary>
    /// Records that the persona's receiver acknowledged the notes (merge of <c>NotifiedAt</c> under the notes row's ETag).
    /// False when the row changed or is gone meanwhile (another delivery recorded it, or the call was erased).
    /// </summary>
    public Task<bool> MarkNotesNotifiedAsync(string sessionId, ETag notesETag, DateTimeOffset at, CancellationToken cancellationToken) =>
        MergeNotesTimeAsync(sessionId, notesETag, NotifiedAtProperty, at, cancellationToken);

    /// <summary>Merges one time into the notes row under its ETag: false when the row changed or is gone meanwhile.</summary>
    private Task<bool> MergeNotesTimeAsync(string sessionId, ETag notesETag, string property, DateTimeOffset at, CancellationToken cancellationToken) =>
        WithTableAsync(async () =>
        {
            var entity = new TableEntity(sessionId, NotesRowKey) { [property] = at };
            try
            {
                await table.UpdateEntityAsync(entity, notesETag, TableUpdateMode.Merge, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (RequestFailedException ex) when (ex.Status is 404 or 412 && !IsTableNotFound(ex))
            {
                return false;
            }
        }, cancellationToken);

    /// <summary>
    /// Every call with a session row started after <paramref name="since"/> (and its notes row, if any): what the notes
    /// sweep looks at. A scan of the table for two row keys (Table Storage has no secondary index), so it is bounded by
    /// time, not by the table's size in calls: see docs/reliability.md.
    /// </summary>
    public async IAsyncEnumerable<NotesSweepEntry> CallsForNotesSweepAsync(DateTimeOffset since, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var filter = TableClient.CreateQueryFilter($"(RowKey eq {SessionTable.SessionRowKey} and StartedAt ge {since}) or (RowKey eq {NotesRowKey} and At ge {since})");
        string? current = null;
        NotesSession? session = null;
        StoredNotes? notes = null;
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, maxPerPage: 1000, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            // One partition's rows come together, in key order (notes before session).
            if (entity.PartitionKey != current)
            {
                if (current is not null)
                {
                    yield return new NotesSweepEntry(current, session, notes);
                }

                current = entity.PartitionKey;
                session = null;
                notes = null;
            }

            if (entity.RowKey == SessionTable.SessionRowKey)
            {
                session = ToNotesSession(entity);
            }
            else
            {
                notes = ToStoredNotes(entity);
            }
        }

        if (current is not null)
        {
            yield return new NotesSweepEntry(current, session, notes);
        }
    }

    /// <summary>When the call was last written to: the newest service timestamp of its session row and the rows after its <c>LastSeq</c> (at most about <see cref="CheckpointRows"/>).</summary>
    public Task<DateTimeOffset?> LastActivityAsync(NotesSession session, CancellationToken cancellationToken) =>
        WithTableAsync(async () =>
        {
            ArgumentNullException.ThrowIfNull(session);
            var last = session.LastWrite;
            await foreach (var entity in table.QueryAsync<TableEntity>(TraceRange(session.State.SessionId, session.State.LastSeq, null), maxPerPage: 1000, select: ["RowKey", "Timestamp"], cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                if (entity.Timestamp is { } at && (last is null || at > last))
                {
                    last = at;
                }
            }

            return last;
        }, cancellationToken);

    /// <summary>
    /// The trace's facts, streamed without text (kind, digit, detail, time), in order, at most <paramref name="maxRows"/>:
    /// what notes from the trace alone are made of, and the model's notes are checked against.
    /// </summary>
    public async IAsyncEnumerable<TraceEntry> TraceFactsAsync(string sessionId, int maxRows, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var count = 0;
        await foreach (var entity in table.QueryAsync<TableEntity>(TraceRange(sessionId, 0, null), maxPerPage: 1000, select: ["Seq", "Kind", "Digit", "Detail", "At", "Mode"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (++count > maxRows)
            {
                yield break;
            }

            yield return SessionTable.ToTrace(entity);
        }
    }

    private const string QueuedAtProperty = "QueuedAt";
    private const string NotifiedAtProperty = "NotifiedAt";

    private static NotesSession ToNotesSession(TableEntity entity) =>
        new(SessionTable.ToSession(entity), entity.ETag, SessionTable.IsErasureMarker(entity), entity.Timestamp);

    internal static StoredNotes ToStoredNotes(TableEntity e) => new(ToNotes(e), e.ETag, e.GetDateTimeOffset(QueuedAtProperty));

    internal static CallNotes ToNotes(TableEntity e) => new()
    {
        Status = e.GetString(nameof(CallNotes.Status)) ?? NotesStatus.Pending,
        Source = e.GetString(nameof(CallNotes.Source)),
        Model = e.GetString(nameof(CallNotes.Model)),
        At = e.GetDateTimeOffset(nameof(CallNotes.At)) ?? DateTimeOffset.MinValue,
        Cause = e.GetString(nameof(CallNotes.Cause)),
        Summary = e.GetString(nameof(CallNotes.Summary)),
        Reason = e.GetString(nameof(CallNotes.Reason)),
        Outcome = e.GetString(nameof(CallNotes.Outcome)),
        CallbackRequested = e.GetBoolean(nameof(CallNotes.CallbackRequested)),
        CallbackNumber = e.GetString(nameof(CallNotes.CallbackNumber)),
        FollowUp = e.GetString(nameof(CallNotes.FollowUp)),
        DurationSeconds = e.GetInt64(nameof(CallNotes.DurationSeconds)),
        Turns = e.GetInt32(nameof(CallNotes.Turns)),
        Keys = e.GetString(nameof(CallNotes.Keys)),
        Escalated = e.GetBoolean(nameof(CallNotes.Escalated)),
        Transferred = e.GetBoolean(nameof(CallNotes.Transferred)),
        HungUpInGreeting = e.GetBoolean(nameof(CallNotes.HungUpInGreeting)),
        Error = e.GetString(nameof(CallNotes.Error)),
        NotifiedAt = e.GetDateTimeOffset(NotifiedAtProperty),
    };

    private static TableEntity ToEntity(string sessionId, CallNotes n, DateTimeOffset? queuedAt)
    {
        // Absent values are left out of the row (Table Storage keeps no nulls); the notes' own fields are bounded where
        // they are made (NotesCheck), far below a property's 64 KiB.
        var e = new TableEntity(sessionId, NotesRowKey)
        {
            [nameof(CallNotes.Status)] = n.Status,
            [nameof(CallNotes.At)] = n.At,
        };
        Put(nameof(CallNotes.Source), n.Source);
        Put(nameof(CallNotes.Model), n.Model);
        Put(nameof(CallNotes.Cause), n.Cause);
        Put(nameof(CallNotes.Summary), n.Summary);
        Put(nameof(CallNotes.Reason), n.Reason);
        Put(nameof(CallNotes.Outcome), n.Outcome);
        Put(nameof(CallNotes.CallbackRequested), n.CallbackRequested);
        Put(nameof(CallNotes.CallbackNumber), n.CallbackNumber);
        Put(nameof(CallNotes.FollowUp), n.FollowUp);
        Put(nameof(CallNotes.DurationSeconds), n.DurationSeconds);
        Put(nameof(CallNotes.Turns), n.Turns);
        Put(nameof(CallNotes.Keys), n.Keys);
        Put(nameof(CallNotes.Escalated), n.Escalated);
        Put(nameof(CallNotes.Transferred), n.Transferred);
        Put(nameof(CallNotes.HungUpInGreeting), n.HungUpInGreeting);
        Put(nameof(CallNotes.Error), n.Error);
        Put(NotifiedAtProperty, n.NotifiedAt);
        Put(QueuedAtProperty, queuedAt);
        return e;

        void Put(string name, object? value)
        {
            if (value is not null)
            {
                e[name] = value;
            }
        }
    }
}
