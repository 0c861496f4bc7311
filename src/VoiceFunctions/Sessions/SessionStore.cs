using Azure;
using Azure.Data.Tables;
using VoiceFunctions.Calls;

namespace VoiceFunctions.Sessions;

/// <summary>The session row as stored, with the ETag a later replace must match.</summary>
/// <param name="SpoolMark">The last spooled step applied to this row (replay idempotency).</param>
/// <param name="Erased">The row is an erasure marker (<see cref="SessionTable.ErasedProperty"/>): nothing of the call may be written.</param>
public sealed record StoredSession(SessionState State, ETag ETag, string? SpoolMark = null, bool Erased = false);

/// <summary>The head of a call read back: the session row (counters up to date) and its mode history in order.</summary>
/// <param name="Notes">The call's notes (issue 21): its <c>notes</c> row, read in the same range; null when it has none.</param>
public sealed record SessionHead(SessionState State, IReadOnlyList<ModeChange> ModeHistory, Notes.CallNotes? Notes = null);

/// <summary>One page of a call's trace, in order; <paramref name="More"/>: rows follow the last one.</summary>
public sealed record TracePage(IReadOnlyList<TraceEntry> Rows, bool More);

/// <summary>Another writer changed the session first (or created it): reload and decide again.</summary>
public sealed class SessionConflictException(Exception inner) : Exception("The session was changed concurrently.", inner);

/// <summary>
/// Sessions and their traces in Azure Table Storage (layout: <see cref="SessionTable"/>): here a call's load and its
/// steps' commits; its replay, read-back and erasure in the other parts of this class.
/// </summary>
public sealed partial class SessionStore(TableClient table)
{
    /// <summary>
    /// A step that only appends a row (see <see cref="CommitAsync"/>) rewrites the session row anyway when its sequence
    /// number crosses a multiple of this, so a load never has more than about this many rows after the session row to add up.
    /// </summary>
    public const int CheckpointRows = 64;

    /// <summary>The rows a load asks for first: a call this short (most) is read in one round trip.</summary>
    private const int LoadFirstPage = 64;

    public async Task EnsureTableAsync(CancellationToken cancellationToken) =>
        await table.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Runs a storage operation and, should the table be missing (created while storage was away at
    /// start-up, or the account was reset), creates it and runs the operation once more.
    /// </summary>
    private async Task<T> WithTableAsync<T>(Func<Task<T>> operation, CancellationToken cancellationToken)
    {
        try
        {
            return await operation().ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (IsTableNotFound(ex))
        {
            await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
            return await operation().ConfigureAwait(false);
        }
    }

    private static bool IsTableNotFound(RequestFailedException ex) =>
        ex.ErrorCode == "TableNotFound" || (ex.Status == 404 && ex.Message.Contains("table specified does not exist", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The session row with its counters brought up to date by the trace rows written after it. One round trip for a
    /// call of up to <see cref="LoadFirstPage"/> rows; a longer one costs a second, for the rows after the session row
    /// only (at most about <see cref="CheckpointRows"/> for a call this code wrote), never the whole trace.
    /// </summary>
    public Task<StoredSession?> LoadAsync(string sessionId, CancellationToken cancellationToken) =>
        WithTableAsync(() => LoadCoreAsync(sessionId, cancellationToken), cancellationToken);

    private async Task<StoredSession?> LoadCoreAsync(string sessionId, CancellationToken cancellationToken)
    {
        // The session row and, after it in key order, the first trace rows (their Seq and Kind only).
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {sessionId} and RowKey ge {SessionTable.SessionRowKey}");
        TableEntity? sessionRow = null;
        TurnsAfterRow? counted = null;
        long lastSeen = 0;
        string? continuation = null;
        await foreach (var page in table.QueryAsync<TableEntity>(filter, maxPerPage: LoadFirstPage, select: SessionTable.LoadColumns, cancellationToken: cancellationToken)
            .AsPages(null, LoadFirstPage).ConfigureAwait(false))
        {
            foreach (var entity in page.Values)
            {
                if (entity.RowKey == SessionTable.SessionRowKey)
                {
                    sessionRow = entity;
                    counted = new TurnsAfterRow(SessionTable.ToSession(entity));
                }
                else if (counted is not null && entity.RowKey.StartsWith(SessionTable.TracePrefix, StringComparison.Ordinal))
                {
                    var row = SessionTable.ToTrace(entity);
                    counted.Add(row);
                    lastSeen = row.Seq;
                }
            }

            continuation = page.ContinuationToken;
            break; // one page: the rest of a long call is mostly before the session row's LastSeq
        }

        if (sessionRow is null || counted is null)
        {
            return null;
        }

        if (SessionTable.IsErasureMarker(sessionRow))
        {
            return new StoredSession(counted.State, sessionRow.ETag, Erased: true);
        }

        if (continuation is not null)
        {
            // A long call: only the rows after both the session row and what the first page held are still to count.
            var after = Math.Max(counted.RowSeq, lastSeen);
            await foreach (var entity in table.QueryAsync<TableEntity>(TraceRange(sessionId, after, null), maxPerPage: 1000, select: ["Seq", "Kind"], cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                counted.Add(SessionTable.ToTrace(entity));
            }
        }

        return new StoredSession(counted.State, sessionRow.ETag, sessionRow.GetString(SessionTable.SpoolMarkProperty));
    }

    /// <summary>
    /// Whether a trace row after <paramref name="afterSeq"/> carries <paramref name="writerId"/> (<see cref="TraceEntry.EventId"/>):
    /// asked only when a conflict or a replay needs to know whether a write already got there. Filtered by the service,
    /// so at most one row comes back.
    /// </summary>
    public Task<bool> IsWrittenByAsync(string sessionId, string writerId, long afterSeq, CancellationToken cancellationToken) =>
        WithTableAsync(() => IsWrittenByCoreAsync(sessionId, writerId, afterSeq, cancellationToken), cancellationToken);

    private async Task<bool> IsWrittenByCoreAsync(string sessionId, string writerId, long afterSeq, CancellationToken cancellationToken)
    {
        // The property name is part of the format, not an argument: CreateQueryFilter quotes arguments as values.
        var filter = $"{TraceRange(sessionId, afterSeq, null)} and {TableClient.CreateQueryFilter($"EventId eq {writerId}")}";
        await foreach (var _ in table.QueryAsync<TableEntity>(filter, maxPerPage: 1, select: ["RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            return true;
        }

        return false;
    }

    /// <summary>
    /// Counts trace rows written after the session row into its counters (a caller turn is one insert that leaves the
    /// row as it was, see <see cref="CommitAsync"/>): the one rule for a load and for a read-back, which streams them.
    /// </summary>
    private sealed class TurnsAfterRow(SessionState row)
    {
        /// <summary>The session row's own LastSeq: rows up to it are counted in its counters already.</summary>
        public long RowSeq => row.LastSeq;

        private long _lastSeq = row.LastSeq;
        private int _turns;
        private int _starts;

        public void Add(TraceEntry trace)
        {
            if (trace.Seq <= row.LastSeq)
            {
                return;
            }

            _lastSeq = Math.Max(_lastSeq, trace.Seq);
            _turns += trace.Kind == TraceKinds.Caller ? 1 : 0;
            _starts += trace.Kind is TraceKinds.SessionStart or TraceKinds.SessionResumed ? 1 : 0;
        }

        public SessionState State => _lastSeq == row.LastSeq ? row : row with
        {
            LastSeq = _lastSeq,
            TurnCount = row.TurnCount + _turns,
            StartCount = row.StartCount + _starts,
        };
    }

    /// <summary>
    /// True when a step changes nothing on the session row but its counters (a caller turn, a DTMF key, an
    /// assistant line...): then only the new rows are written, and the row counters are brought up to date on
    /// the next load or rewrite (at the latest every <see cref="CheckpointRows"/>). The new rows' keys (the next
    /// sequence numbers) are the concurrency check.
    /// </summary>
    private static bool OnlyCountersChange(CallStep step) =>
        step.Previous is { } previous && step.Next is { } next && step.ModeChanges.Count == 0 &&
        previous with { TurnCount = next.TurnCount, LastSeq = next.LastSeq } == next;

    /// <summary>The step's numbers cross a multiple of <see cref="CheckpointRows"/>: the session row is rewritten with it.</summary>
    private static bool CrossesCheckpoint(CallStep step) =>
        step.Previous is { } previous && step.Next is { } next && previous.LastSeq / CheckpointRows != next.LastSeq / CheckpointRows;

    /// <summary>
    /// Writes a step as one entity-group transaction: the session row (added, or replaced under its ETag)
    /// and the new trace and mode rows. Returns the session row's new ETag, or null if the service did not say.
    /// Every row is fitted to Table Storage's limits first (<see cref="SessionTable"/>, <see cref="TableLimits"/>).
    /// </summary>
    /// <exception cref="SessionConflictException">The session was created or changed by another writer.</exception>
    /// <exception cref="UnstorableStepException">The step is over a limit that cutting fields cannot fix (permanent).</exception>
    public Task<ETag?> CommitAsync(CallStep step, ETag? etag, CancellationToken cancellationToken) =>
        WithTableAsync(() => CommitCoreAsync(step, etag, cancellationToken), cancellationToken);

    private async Task<ETag?> CommitCoreAsync(CallStep step, ETag? etag, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        var next = step.Next ?? throw new ArgumentException("The step writes nothing.", nameof(step));
        if (OnlyCountersChange(step) && step.Trace.Count == 1 && !CrossesCheckpoint(step))
        {
            // The hot path (a caller turn): the new row, and an empty merge of the session row under the ETag this step
            // was decided on — one transaction, one round trip. The merge changes no value; it makes the step fail once
            // the call was erased meanwhile (the erasure replaced the row: 412, or deleted it: 404), on any instance. A row
            // with this sequence number written by another instance fails it with 409: reload and decide again.
            var turn = new List<TableTransactionAction>(2)
            {
                new(TableTransactionActionType.UpdateMerge, new TableEntity(next.SessionId, SessionTable.SessionRowKey), etag ?? ETag.All),
                new(TableTransactionActionType.Add, SessionTable.ToEntity(next.SessionId, step.Trace[0])),
            };
            TableLimits.CheckTransaction(turn);
            try
            {
                var response = await table.SubmitTransactionAsync(turn, cancellationToken).ConfigureAwait(false);
                return response.Value.Count > 0 && response.Value[0].Headers.ETag is { } turnTag ? turnTag : null;
            }
            catch (RequestFailedException ex) when (ex.Status is 409 or 412 || (ex.Status == 404 && !IsTableNotFound(ex)))
            {
                throw new SessionConflictException(ex);
            }
        }

        // Concurrency invariant: a step on a known session starts with a trace row, so its first sequence number is a
        // `trace-` key another writer's turn would collide with (mode rows have their own prefix). CallFlow keeps it.
        if (step.Previous is not null && step.ModeChanges.Count > 0 &&
            (step.Trace.Count == 0 || step.Trace.Min(t => t.Seq) > step.ModeChanges.Min(m => m.Seq)))
        {
            throw new InvalidOperationException("A step on a known session must start with a trace row.");
        }

        var actions = new List<TableTransactionAction>(1 + step.Trace.Count + step.ModeChanges.Count)
        {
            step.Previous is null
                ? new TableTransactionAction(TableTransactionActionType.Add, SessionTable.ToEntity(next))
                : new TableTransactionAction(TableTransactionActionType.UpdateReplace, SessionTable.ToEntity(next), etag ?? ETag.All),
        };
        actions.AddRange(step.ModeChanges.Select(m => new TableTransactionAction(TableTransactionActionType.Add, SessionTable.ToEntity(next.SessionId, m))));
        actions.AddRange(step.Trace.Select(t => new TableTransactionAction(TableTransactionActionType.Add, SessionTable.ToEntity(next.SessionId, t))));

        TableLimits.CheckTransaction(actions);
        try
        {
            var response = await table.SubmitTransactionAsync(actions, cancellationToken).ConfigureAwait(false);
            return response.Value.Count > 0 && response.Value[0].Headers.ETag is { } newTag ? newTag : null;
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412 || (ex.Status == 404 && !IsTableNotFound(ex)))
        {
            // 409: the call exists after all; 412: someone else wrote first; 404: the row was erased meanwhile.
            throw new SessionConflictException(ex);
        }
    }

    /// <summary>The RowKey range of trace rows after <paramref name="afterSeq"/> (through <paramref name="throughSeq"/>, or to the last).</summary>
    private static string TraceRange(string sessionId, long afterSeq, long? throughSeq)
    {
        var from = SessionTable.RowKey(SessionTable.TracePrefix, Math.Max(0, afterSeq));
        return throughSeq is { } through
            ? TableClient.CreateQueryFilter($"PartitionKey eq {sessionId} and RowKey gt {from} and RowKey le {SessionTable.RowKey(SessionTable.TracePrefix, through)}")
            : TableClient.CreateQueryFilter($"PartitionKey eq {sessionId} and RowKey gt {from} and RowKey lt {SessionTable.TraceEnd}");
    }
}
