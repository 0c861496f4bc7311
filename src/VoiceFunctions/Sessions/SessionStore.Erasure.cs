using Azure;
using Azure.Data.Tables;

namespace VoiceFunctions.Sessions;

/// <summary>Erasure and retention: whole calls deleted, old calls found.</summary>
public sealed partial class SessionStore
{
    /// <summary>
    /// Erasure: the session row is replaced by the erasure marker first (<see cref="SessionTable.ErasedProperty"/>), then
    /// every other row is deleted, in transactions of at most 100. From the marker on no commit of any instance lands (each
    /// one touches the session row conditionally), so what the deletion finds is all there is. With
    /// <paramref name="keepMarker"/> false (retention) the marker goes too. Idempotent.
    /// </summary>
    public Task<int> DeleteAsync(string sessionId, DateTimeOffset at, bool keepMarker, CancellationToken cancellationToken) =>
        WithTableAsync(() => DeleteCoreAsync(sessionId, at, keepMarker, cancellationToken), cancellationToken);

    private async Task<int> DeleteCoreAsync(string sessionId, DateTimeOffset at, bool keepMarker, CancellationToken cancellationToken)
    {
        if (keepMarker)
        {
            await table.UpsertEntityAsync(SessionTable.ErasureMarker(sessionId, at), TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
        }

        var deleted = 0;
        var filter = keepMarker
            ? TableClient.CreateQueryFilter($"PartitionKey eq {sessionId} and RowKey ne {SessionTable.SessionRowKey}")
            : TableClient.CreateQueryFilter($"PartitionKey eq {sessionId}");
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
    /// The ids of calls with a row older than <paramref name="cutoff"/>, at most <paramref name="max"/>: a session row
    /// (or erasure marker) that started before it, and any trace or mode row written before it — so rows without a session
    /// row (orphans) are found too. A scan of the table: Table Storage has no secondary index.
    /// </summary>
    public Task<IReadOnlyList<string>> CallsOlderThanAsync(DateTimeOffset cutoff, int max, CancellationToken cancellationToken) =>
        WithTableAsync(() => CallsOlderThanCoreAsync(cutoff, max, cancellationToken), cancellationToken);

    private async Task<IReadOnlyList<string>> CallsOlderThanCoreAsync(DateTimeOffset cutoff, int max, CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var filter = TableClient.CreateQueryFilter($"(RowKey eq {SessionTable.SessionRowKey} and StartedAt lt {cutoff}) or At lt {cutoff}");
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, maxPerPage: 1000, select: ["PartitionKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (seen.Add(entity.PartitionKey))
            {
                ids.Add(entity.PartitionKey);
                if (ids.Count >= max)
                {
                    break;
                }
            }
        }

        return ids;
    }
}
