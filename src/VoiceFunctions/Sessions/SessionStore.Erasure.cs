using Azure;
using Azure.Data.Tables;

namespace VoiceFunctions.Sessions;

/// <summary>Erasure and retention: whole calls deleted, old calls found.</summary>
public sealed partial class SessionStore
{
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
}
