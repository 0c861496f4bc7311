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

    /// <summary>One point read of the session row.</summary>
    public async Task<StoredSession?> LoadAsync(string sessionId, CancellationToken cancellationToken)
    {
        var response = await table.GetEntityIfExistsAsync<TableEntity>(sessionId, SessionTable.SessionRowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        return response.HasValue ? new StoredSession(SessionTable.ToSession(response.Value!), response.Value!.ETag) : null;
    }

    /// <summary>
    /// Writes a step as one entity-group transaction: the session row (added, or replaced under its ETag)
    /// and the new trace and mode rows. Returns the session row's new ETag, or null if the service did not say.
    /// </summary>
    /// <exception cref="SessionConflictException">The session was created or changed by another writer.</exception>
    public async Task<ETag?> CommitAsync(CallStep step, ETag? etag, CancellationToken cancellationToken)
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
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            throw new SessionConflictException(ex);
        }
    }

    /// <summary>The whole call with one partition query.</summary>
    public async Task<SessionRecord?> ReadAsync(string sessionId, CancellationToken cancellationToken)
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
