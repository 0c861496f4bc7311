using Azure;
using Azure.Data.Tables;
using VoiceFunctions.Calls;

namespace VoiceFunctions.Sessions;

/// <summary>The session row as stored, with the ETag a later replace must match.</summary>
public sealed record StoredSession(SessionState State, ETag ETag);

/// <summary>A whole call read back: the session row, its mode history and its trace, each in order.</summary>
public sealed record SessionRecord(SessionState State, IReadOnlyList<ModeChange> ModeHistory, IReadOnlyList<TraceEntry> Trace);

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
        var response = await table.GetEntityIfExistsAsync<TableEntity>(sessionId, SessionTable.SessionRowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        return response.HasValue ? new StoredSession(SessionTable.ToSession(response.Value!), response.Value!.ETag) : null;
    }

    /// <summary>
    /// Writes a step as one entity-group transaction: the session row (added, or replaced under its ETag)
    /// and the new trace and mode rows. Returns the session row's new ETag, or null if the service did not say.
    /// </summary>
    /// <exception cref="SessionConflictException">The session was created or changed by another writer.</exception>
    public Task<ETag?> CommitAsync(CallStep step, ETag? etag, CancellationToken cancellationToken) =>
        WithTableAsync(() => CommitCoreAsync(step, etag, cancellationToken), cancellationToken);

    private async Task<ETag?> CommitCoreAsync(CallStep step, ETag? etag, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        var next = step.Next ?? throw new ArgumentException("The step writes nothing.", nameof(step));
        var actions = new List<TableTransactionAction>(1 + step.Trace.Count + step.ModeChanges.Count)
        {
            step.Previous is null
                ? new TableTransactionAction(TableTransactionActionType.Add, SessionTable.ToEntity(next))
                : new TableTransactionAction(TableTransactionActionType.UpdateReplace, SessionTable.ToEntity(next), etag ?? ETag.All),
        };
        actions.AddRange(step.ModeChanges.Select(m => new TableTransactionAction(TableTransactionActionType.Add, SessionTable.ToEntity(next.SessionId, m))));
        actions.AddRange(step.Trace.Select(t => new TableTransactionAction(TableTransactionActionType.Add, SessionTable.ToEntity(next.SessionId, t))));

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
        var existing = await table.GetEntityIfExistsAsync<TableEntity>(step.SessionId, SessionTable.SessionRowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        var stored = existing.HasValue ? existing.Value : null;
        if (stored?.GetString(SessionTable.SpoolMarkProperty) is { } mark && string.CompareOrdinal(mark, step.Id) >= 0)
        {
            return false;
        }

        var session = step.Session;
        IEnumerable<TraceEntry> trace = step.Trace;
        IEnumerable<ModeChange> modes = step.ModeChanges;
        if (!step.BaseKnown && stored is not null)
        {
            (session, trace, modes) = Rebase(SessionTable.ToSession(stored), step);
        }

        var sessionEntity = SessionTable.ToEntity(session);
        sessionEntity[SessionTable.SpoolMarkProperty] = step.Id;
        var actions = new List<TableTransactionAction> { new(TableTransactionActionType.UpsertReplace, sessionEntity) };
        actions.AddRange(modes.Select(m => new TableTransactionAction(TableTransactionActionType.UpsertReplace, SessionTable.ToEntity(step.SessionId, m))));
        actions.AddRange(trace.Select(t => new TableTransactionAction(TableTransactionActionType.UpsertReplace, SessionTable.ToEntity(step.SessionId, t))));
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

    /// <summary>The whole call with one partition query.</summary>
    public Task<SessionRecord?> ReadAsync(string sessionId, CancellationToken cancellationToken) =>
        WithTableAsync(() => ReadCoreAsync(sessionId, cancellationToken), cancellationToken);

    private async Task<SessionRecord?> ReadCoreAsync(string sessionId, CancellationToken cancellationToken)
    {
        SessionState? state = null;
        var modes = new List<ModeChange>();
        var trace = new List<TraceEntry>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {sessionId}");
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (entity.RowKey == SessionTable.SessionRowKey)
            {
                state = SessionTable.ToSession(entity);
            }
            else if (entity.RowKey.StartsWith(SessionTable.ModePrefix, StringComparison.Ordinal))
            {
                modes.Add(SessionTable.ToModeChange(entity));
            }
            else if (entity.RowKey.StartsWith(SessionTable.TracePrefix, StringComparison.Ordinal))
            {
                trace.Add(SessionTable.ToTrace(entity));
            }
        }

        // RowKeys are zero-padded, so the service returns them in order; sorting again costs nothing and
        // keeps the order right should the padding ever be outgrown.
        return state is null ? null : new SessionRecord(state, [.. modes.OrderBy(m => m.Seq)], [.. trace.OrderBy(t => t.Seq)]);
    }
}
