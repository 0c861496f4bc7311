using Azure;
using Azure.Data.Tables;
using VoiceFunctions.Calls;

namespace VoiceFunctions.Sessions;

/// <summary>The session row as stored, with the ETag a later replace must match.</summary>
/// <param name="SpoolMark">The last spooled step applied to this row (replay idempotency).</param>
/// <param name="EventIds">The event ids on the call's trace rows (<see cref="TraceEntry.EventId"/>).</param>
public sealed record StoredSession(SessionState State, ETag ETag, string? SpoolMark = null, IReadOnlySet<string>? EventIds = null);

/// <summary>The head of a call read back: the session row (counters up to date) and its mode history in order.</summary>
public sealed record SessionHead(SessionState State, IReadOnlyList<ModeChange> ModeHistory);

/// <summary>One page of a call's trace, in order; <paramref name="More"/>: rows follow the last one.</summary>
public sealed record TracePage(IReadOnlyList<TraceEntry> Rows, bool More);

/// <summary>Another writer changed the session first (or created it): reload and decide again.</summary>
public sealed class SessionConflictException(Exception inner) : Exception("The session was changed concurrently.", inner);

/// <summary>Sessions and their traces in Azure Table Storage (layout: <see cref="SessionTable"/>).</summary>
public sealed class SessionStore(TableClient table)
{
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

    /// <summary>One point read of the session row.</summary>
    public Task<StoredSession?> LoadAsync(string sessionId, CancellationToken cancellationToken) =>
        WithTableAsync(() => LoadCoreAsync(sessionId, cancellationToken), cancellationToken);

    private async Task<StoredSession?> LoadCoreAsync(string sessionId, CancellationToken cancellationToken)
    {
        // One query: the session row and, after it in key order, the trace rows (their Seq and Kind only), so
        // turns written without rewriting the session row (see CommitAsync) are counted in.
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {sessionId} and RowKey ge {SessionTable.SessionRowKey}");
        TableEntity? sessionRow = null;
        var rows = new List<TableEntity>();
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, select: SessionTable.LoadColumns, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (entity.RowKey == SessionTable.SessionRowKey)
            {
                sessionRow = entity;
            }
            else if (entity.RowKey.StartsWith(SessionTable.TracePrefix, StringComparison.Ordinal))
            {
                rows.Add(entity);
            }
        }

        return sessionRow is null ? null : new StoredSession(
            WithTurnsAfterRow(SessionTable.ToSession(sessionRow), rows.Select(SessionTable.ToTrace)),
            sessionRow.ETag,
            sessionRow.GetString(SessionTable.SpoolMarkProperty),
            rows.Select(r => r.GetString(SessionTable.EventIdProperty)).OfType<string>().ToHashSet(StringComparer.Ordinal));
    }

    /// <summary>The session row's counters plus the trace rows written after it (turns that did not rewrite it).</summary>
    private static SessionState WithTurnsAfterRow(SessionState state, IEnumerable<TraceEntry> trace)
    {
        var counted = new TurnsAfterRow(state);
        foreach (var row in trace)
        {
            counted.Add(row);
        }

        return counted.State;
    }

    /// <summary>
    /// Counts trace rows written after the session row into its counters (a caller turn is one insert that leaves the
    /// row as it was, see <see cref="CommitAsync"/>): the one rule for a load and for a read-back, which streams them.
    /// </summary>
    private sealed class TurnsAfterRow(SessionState row)
    {
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
    /// the next load or rewrite. The new rows' keys (the next sequence numbers) are the concurrency check.
    /// </summary>
    private static bool OnlyCountersChange(CallStep step) =>
        step.Previous is { } previous && step.Next is { } next && step.ModeChanges.Count == 0 &&
        previous with { TurnCount = next.TurnCount, LastSeq = next.LastSeq } == next;

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
        if (OnlyCountersChange(step) && step.Trace.Count == 1)
        {
            // The hot path (a caller turn): one entity, one insert. A row with this sequence number written by
            // another instance makes it fail with 409: reload and decide again.
            try
            {
                await table.AddEntityAsync(SessionTable.ToEntity(next.SessionId, step.Trace[0]), cancellationToken).ConfigureAwait(false);
                return etag;
            }
            catch (RequestFailedException ex) when (ex.Status == 409)
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

    /// <summary>
    /// Writes a spooled step idempotently (upserts of the same rows), re-basing its sequence numbers on the
    /// stored session when it was decided without it. A step already applied (its id is the session row's
    /// <c>SpoolMark</c> or older) is skipped, so a replay interrupted after the write is not doubled.
    /// </summary>
    public Task ApplySpooledAsync(SpooledStep step, CancellationToken cancellationToken) =>
        WithTableAsync(() => ApplySpooledCoreAsync(step, cancellationToken), cancellationToken);

    private async Task<bool> ApplySpooledCoreAsync(SpooledStep step, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        var stored = await LoadCoreAsync(step.SessionId, cancellationToken).ConfigureAwait(false);
        if (stored?.SpoolMark is { } mark && string.CompareOrdinal(mark, step.Id) >= 0)
        {
            return false;
        }

        if (step.EventId is { } eventId && stored?.EventIds is { } recorded && recorded.Contains(eventId))
        {
            // An answered event kept on disk whose step reached storage before the process died: stored already.
            return false;
        }

        var session = step.Session;
        IEnumerable<TraceEntry> trace = step.Trace;
        IEnumerable<ModeChange> modes = step.ModeChanges;
        if (!step.BaseKnown && stored is not null)
        {
            (session, trace, modes) = Rebase(stored.State, step);
        }

        var sessionEntity = SessionTable.ToEntity(session);
        sessionEntity[SessionTable.SpoolMarkProperty] = step.Id;
        var actions = new List<TableTransactionAction> { new(TableTransactionActionType.UpsertReplace, sessionEntity) };
        actions.AddRange(modes.Select(m => new TableTransactionAction(TableTransactionActionType.UpsertReplace, SessionTable.ToEntity(step.SessionId, m))));
        actions.AddRange(trace.Select(t => new TableTransactionAction(TableTransactionActionType.UpsertReplace, SessionTable.ToEntity(step.SessionId, t))));
        TableLimits.CheckTransaction(actions);
        await table.SubmitTransactionAsync(actions, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Puts a step decided without the stored session after what is stored, and adds up its counts.</summary>
    private static (SessionState Session, IReadOnlyList<TraceEntry> Trace, IReadOnlyList<ModeChange> Modes) Rebase(SessionState stored, SpooledStep step)
    {
        var next = stored.LastSeq;
        var mode = stored.Mode;
        var modes = new List<ModeChange>();
        var trace = new List<TraceEntry>();
        var rows = step.ModeChanges.Select(m => (m.Seq, Row: (object)m)).Concat(step.Trace.Select(t => (t.Seq, Row: (object)t))).OrderBy(r => r.Seq);
        foreach (var (_, row) in rows)
        {
            if (row is ModeChange change)
            {
                if (change.From is null && change.To == mode)
                {
                    continue; // "this call starts in mode X" is no change for a call that exists
                }

                modes.Add(change with { Seq = ++next, From = mode });
                mode = change.To;
            }
            else if (row is TraceEntry entry)
            {
                trace.Add(entry with { Seq = ++next });
            }
        }

        var session = stored with
        {
            Mode = mode,
            TurnCount = stored.TurnCount + step.Trace.Count(t => t.Kind == TraceKinds.Caller),
            StartCount = stored.StartCount + step.Trace.Count(t => t.Kind is TraceKinds.SessionStart or TraceKinds.SessionResumed),
            EndedAt = step.Session.EndedAt ?? stored.EndedAt,
            EndReason = step.Session.EndReason ?? stored.EndReason,
            Escalated = step.Session.Escalated,
            Pending = step.Session.Pending,
            ModelFailures = step.Session.ModelFailures,
            LastSeq = next,
        };
        return (session, trace, modes);
    }

    /// <summary>Erasure: every row of the session, in transactions of at most 100. Idempotent.</summary>
    public Task<int> DeleteAsync(string sessionId, CancellationToken cancellationToken) =>
        WithTableAsync(() => DeleteCoreAsync(sessionId, cancellationToken), cancellationToken);

    private async Task<int> DeleteCoreAsync(string sessionId, CancellationToken cancellationToken)
    {
        var deleted = 0;
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {sessionId}");
        var batch = new List<TableTransactionAction>(100);
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            batch.Add(new TableTransactionAction(TableTransactionActionType.Delete, entity, ETag.All));
            if (batch.Count == 100)
            {
                deleted += await SubmitDeletesAsync(batch, cancellationToken).ConfigureAwait(false);
            }
        }

        return deleted + await SubmitDeletesAsync(batch, cancellationToken).ConfigureAwait(false);
    }

    private async Task<int> SubmitDeletesAsync(List<TableTransactionAction> batch, CancellationToken cancellationToken)
    {
        if (batch.Count == 0)
        {
            return 0;
        }

        var count = batch.Count;
        try
        {
            await table.SubmitTransactionAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // Someone deleted a row meanwhile: delete what is left one by one.
            foreach (var action in batch)
            {
                await table.DeleteEntityAsync(action.Entity.PartitionKey, action.Entity.RowKey, ETag.All, cancellationToken).ConfigureAwait(false);
            }
        }

        batch.Clear();
        return count;
    }

    /// <summary>
    /// The ids of sessions that started before <paramref name="cutoff"/>, at most <paramref name="max"/>.
    /// A scan over session rows (RowKey 'session'): Table Storage has no secondary index.
    /// </summary>
    public Task<IReadOnlyList<string>> SessionsStartedBeforeAsync(DateTimeOffset cutoff, int max, CancellationToken cancellationToken) =>
        WithTableAsync(() => SessionsStartedBeforeCoreAsync(cutoff, max, cancellationToken), cancellationToken);

    private async Task<IReadOnlyList<string>> SessionsStartedBeforeCoreAsync(DateTimeOffset cutoff, int max, CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        var filter = TableClient.CreateQueryFilter($"RowKey eq {SessionTable.SessionRowKey} and StartedAt lt {cutoff}");
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, maxPerPage: Math.Min(max, 1000), select: ["PartitionKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            ids.Add(entity.PartitionKey);
            if (ids.Count >= max)
            {
                break;
            }
        }

        return ids;
    }

    /// <summary>
    /// The head of a read-back: the session row (counters brought up to date) and the mode history, without the
    /// trace (read page by page with <see cref="ReadTracePageAsync"/>). Null when the session is not stored.
    /// </summary>
    public Task<SessionHead?> ReadHeadAsync(string sessionId, CancellationToken cancellationToken) =>
        WithTableAsync(() => ReadHeadCoreAsync(sessionId, cancellationToken), cancellationToken);

    private async Task<SessionHead?> ReadHeadCoreAsync(string sessionId, CancellationToken cancellationToken)
    {
        // `mode-…` sorts before `session`, `trace-…` after it: one range holds the session row and its mode rows.
        SessionState? state = null;
        var modes = new List<ModeChange>();
        var head = TableClient.CreateQueryFilter($"PartitionKey eq {sessionId} and RowKey ge {SessionTable.ModePrefix} and RowKey le {SessionTable.SessionRowKey}");
        await foreach (var entity in table.QueryAsync<TableEntity>(head, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (entity.RowKey == SessionTable.SessionRowKey)
            {
                state = SessionTable.ToSession(entity);
            }
            else if (entity.RowKey.StartsWith(SessionTable.ModePrefix, StringComparison.Ordinal))
            {
                modes.Add(SessionTable.ToModeChange(entity));
            }
        }

        if (state is null)
        {
            return null;
        }

        // Turns written without rewriting the session row are counted in, streamed: only their Seq and Kind, none kept.
        var counted = new TurnsAfterRow(state);
        await foreach (var entity in table.QueryAsync<TableEntity>(TraceRange(sessionId, state.LastSeq, null), maxPerPage: 1000, select: ["Seq", "Kind"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            counted.Add(SessionTable.ToTrace(entity));
        }

        return new SessionHead(counted.State, [.. modes.OrderBy(m => m.Seq)]);
    }

    /// <summary>Whether the session row is stored (one point read of its key).</summary>
    public Task<bool> ExistsAsync(string sessionId, CancellationToken cancellationToken) =>
        WithTableAsync(async () => (await table.GetEntityIfExistsAsync<TableEntity>(sessionId, SessionTable.SessionRowKey, ["PartitionKey"], cancellationToken).ConfigureAwait(false)).HasValue, cancellationToken);

    /// <summary>
    /// One page of the trace: the rows after <paramref name="afterSeq"/>, in order, at most <paramref name="limit"/>
    /// of them and, after the first, only while their <paramref name="size"/> adds up to at most
    /// <paramref name="maxBytes"/> (so one row larger than that still makes a page). Only about the rows of the page
    /// are fetched, never the whole call.
    /// </summary>
    public Task<TracePage> ReadTracePageAsync(string sessionId, long afterSeq, int limit, long maxBytes, Func<TraceEntry, long> size, CancellationToken cancellationToken) =>
        WithTableAsync(() => ReadTracePageCoreAsync(sessionId, afterSeq, limit, maxBytes, size, cancellationToken), cancellationToken);

    private async Task<TracePage> ReadTracePageCoreAsync(string sessionId, long afterSeq, int limit, long maxBytes, Func<TraceEntry, long> size, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentNullException.ThrowIfNull(size);
        var rows = new List<TraceEntry>(Math.Min(limit, 256));
        long bytes = 0;
        var filter = TraceRange(sessionId, afterSeq, null);

        // The service is asked for a few rows first, then for as many as the rows seen so far say will fit: rows can
        // be hundreds of KiB each, and whatever one request returns is held in memory at once. One row more than the
        // page holds tells whether there are more.
        var fetch = Math.Min(limit + 1, FirstFetch);
        string? continuation = null;
        while (true)
        {
            Page<TableEntity>? page = null;
            await foreach (var first in table.QueryAsync<TableEntity>(filter, maxPerPage: fetch, cancellationToken: cancellationToken)
                .AsPages(continuation, fetch).ConfigureAwait(false))
            {
                page = first;
                break; // one service round trip at a time, each sized anew
            }

            foreach (var entity in page?.Values ?? [])
            {
                var row = SessionTable.ToTrace(entity);
                var rowBytes = size(row);
                if (rows.Count == limit || (rows.Count > 0 && bytes + rowBytes > maxBytes))
                {
                    return new TracePage(rows, More: true);
                }

                rows.Add(row);
                bytes += rowBytes;
            }

            continuation = page?.ContinuationToken;
            if (continuation is null)
            {
                return new TracePage(rows, More: false);
            }

            if (rows.Count > 0)
            {
                var perRow = Math.Max(1, bytes / rows.Count);
                fetch = (int)Math.Clamp(((maxBytes - bytes) / perRow) + 1, 1, Math.Min(limit - rows.Count + 1, 1000));
            }
        }
    }

    /// <summary>The rows asked for in a page's first request, before their size is known.</summary>
    private const int FirstFetch = 8;

    /// <summary>
    /// The trace rows with <paramref name="afterSeq"/> &lt; seq ≤ <paramref name="throughSeq"/>, in order: a bounded
    /// range, for a read near the end of a long call (the chat model's history).
    /// </summary>
    public Task<IReadOnlyList<TraceEntry>> ReadTraceRangeAsync(string sessionId, long afterSeq, long throughSeq, CancellationToken cancellationToken) =>
        WithTableAsync(() => ReadTraceRangeCoreAsync(sessionId, afterSeq, throughSeq, cancellationToken), cancellationToken);

    private async Task<IReadOnlyList<TraceEntry>> ReadTraceRangeCoreAsync(string sessionId, long afterSeq, long throughSeq, CancellationToken cancellationToken)
    {
        var rows = new List<TraceEntry>();
        if (throughSeq <= afterSeq)
        {
            return rows;
        }

        await foreach (var entity in table.QueryAsync<TableEntity>(TraceRange(sessionId, afterSeq, throughSeq), maxPerPage: (int)Math.Min(throughSeq - afterSeq, 1000), cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            rows.Add(SessionTable.ToTrace(entity));
        }

        return rows;
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
