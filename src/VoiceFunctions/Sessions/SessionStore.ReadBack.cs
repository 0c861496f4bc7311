using Azure;
using Azure.Data.Tables;

namespace VoiceFunctions.Sessions;

/// <summary>Reading a call back (<c>GET /api/sessions/{id}</c>) and the chat model's history: the head, and the trace page by page or by range.</summary>
public sealed partial class SessionStore
{
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
        Notes.CallNotes? notes = null;
        var modes = new List<ModeChange>();
        var head = TableClient.CreateQueryFilter($"PartitionKey eq {sessionId} and RowKey ge {SessionTable.ModePrefix} and RowKey le {SessionTable.SessionRowKey}");
        await foreach (var entity in table.QueryAsync<TableEntity>(head, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (SessionTable.IsErasureMarker(entity))
            {
                return null; // erased: reads as never stored
            }

            if (entity.RowKey == SessionTable.SessionRowKey)
            {
                state = SessionTable.ToSession(entity);
            }
            else if (entity.RowKey.StartsWith(SessionTable.ModePrefix, StringComparison.Ordinal))
            {
                modes.Add(SessionTable.ToModeChange(entity));
            }
            else if (entity.RowKey == NotesRowKey)
            {
                notes = ToNotes(entity); // `notes` sorts between them: read in the same range
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

        return new SessionHead(counted.State, [.. modes.OrderBy(m => m.Seq)], notes);
    }

    /// <summary>Whether the session row is stored (one point read of its key).</summary>
    public Task<bool> ExistsAsync(string sessionId, CancellationToken cancellationToken) =>
        WithTableAsync(async () => (await table.GetEntityIfExistsAsync<TableEntity>(sessionId, SessionTable.SessionRowKey, ["PartitionKey", "RowKey", SessionTable.ErasedProperty], cancellationToken).ConfigureAwait(false)) is { HasValue: true } row &&
            !SessionTable.IsErasureMarker(row.Value!), cancellationToken);

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
}
