using Azure;
using Azure.Data.Tables;
using VoiceFunctions.Calls;

namespace VoiceFunctions.Sessions;

/// <summary>A spooled step written into storage (<see cref="SessionStore.ApplySpooledAsync"/>), the replay of what waited out an outage.</summary>
public sealed partial class SessionStore
{
    /// <summary>How often a replayed step is re-based after another writer got in first, before the replay waits for its next round.</summary>
    private const int ReplayAttempts = 5;

    /// <summary>
    /// Writes a spooled step without overwriting any row it did not write (issue 23): its trace and mode rows are
    /// inserts and the session row is replaced under the ETag just read, so a row another instance wrote meanwhile makes
    /// the write fail (409/412); the step is then re-based on what is stored (<see cref="SpooledStepRebase"/>) and
    /// written again. A step whose writer id is on a stored row already is skipped (<see cref="IsWrittenByAsync"/>), so
    /// a replay interrupted after the write is not doubled; a step without a writer id, by the session row's
    /// <c>SpoolMark</c> of this spool.
    /// </summary>
    /// <exception cref="SessionConflictException">Other writers kept winning; the step waits for the next round.</exception>
    public Task ApplySpooledAsync(SpooledStep step, CancellationToken cancellationToken) =>
        WithTableAsync(() => ApplySpooledCoreAsync(step, cancellationToken), cancellationToken);

    private async Task<bool> ApplySpooledCoreAsync(SpooledStep step, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await TryApplySpooledAsync(step, cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException ex) when (IsReplayConflict(ex) && attempt < ReplayAttempts)
            {
                // Another instance wrote a row of this call since the read (or the row went): read again and re-base.
            }
            catch (RequestFailedException ex) when (IsReplayConflict(ex))
            {
                throw new SessionConflictException(ex);
            }
        }
    }

    /// <summary>
    /// Writes the first of a call's waiting <paramref name="steps"/> (oldest first) as one transaction: as many as fit in
    /// one entity-group transaction (100 entities, 4 MiB), each re-based in memory on the state the one before leaves
    /// (<see cref="SpooledStepRebase"/>, the same rules as <see cref="ApplySpooledAsync"/>), then the session row once,
    /// replaced under the ETag read — so a row another instance wrote meanwhile still makes the write fail. The call is
    /// read (its session row, and the writer ids stored) once per <paramref name="cursor"/>, not per step: after a write
    /// the cursor holds the state written and its new ETag; only a conflict reads again (issue 23, item 7: 1,500 steps
    /// replayed one by one cost three round trips each and held the call's turn for the whole backlog).
    /// Returns how many of <paramref name="steps"/> are done: stored, or skipped as stored already or erased.
    /// </summary>
    /// <exception cref="SessionConflictException">Other writers kept winning; the steps wait for the next round.</exception>
    /// <exception cref="UnstorableStepException">A step alone is over a transaction's limits (permanent).</exception>
    public Task<int> ApplySpooledChunkAsync(IReadOnlyList<SpooledStep> steps, ReplayCursor cursor, CancellationToken cancellationToken) =>
        WithTableAsync(() => ApplySpooledChunkCoreAsync(steps, cursor, cancellationToken), cancellationToken);

    private async Task<int> ApplySpooledChunkCoreAsync(IReadOnlyList<SpooledStep> steps, ReplayCursor cursor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(steps);
        ArgumentNullException.ThrowIfNull(cursor);
        for (var attempt = 1; ; attempt++)
        {
            if (!cursor.Read)
            {
                cursor.Stored = await LoadCoreAsync(cursor.SessionId, cancellationToken).ConfigureAwait(false);
                cursor.Written = cursor.Stored is null ? [] : await WriterIdsCoreAsync(cursor.SessionId, cancellationToken).ConfigureAwait(false);
                cursor.Read = true;
            }

            try
            {
                return await TryApplyChunkAsync(steps, cursor, cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException ex) when (IsReplayConflict(ex))
            {
                // Another instance wrote a row of this call since the read (or the row went): read again and re-base.
                cursor.Read = false;
                if (attempt >= ReplayAttempts)
                {
                    throw new SessionConflictException(ex);
                }
            }
        }
    }

    private async Task<int> TryApplyChunkAsync(IReadOnlyList<SpooledStep> steps, ReplayCursor cursor, CancellationToken cancellationToken)
    {
        var stored = cursor.Stored;
        if (stored?.Erased == true)
        {
            return steps.Count; // the call was erased (on any instance): nothing of it is written again
        }

        var state = stored?.State;
        var rows = new List<TableTransactionAction>();
        var writerIds = new List<string>();
        long bytes = 0;
        var done = 0;
        string? lastId = null;
        foreach (var step in steps)
        {
            if (step.SessionId != cursor.SessionId)
            {
                throw new ArgumentException("Every step must be of the cursor's call.", nameof(steps));
            }

            if ((step.EventId is null && stored?.SpoolMark is { } mark && string.CompareOrdinal(mark, step.Id) >= 0) ||
                (step.EventId is { } id && (cursor.Written.Contains(id) || writerIds.Contains(id))))
            {
                done++; // stored already (see TryApplySpooledAsync)
                continue;
            }

            var session = step.Session;
            IEnumerable<TraceEntry> trace = step.Trace;
            IEnumerable<ModeChange> modes = step.ModeChanges;
            if (state is not null && !FitsStored(state, step))
            {
                (session, trace, modes) = SpooledStepRebase.Rebase(state, step);
            }

            if (step.EventId is { } writerId)
            {
                trace = trace.Select((row, i) => i == 0 ? row with { EventId = writerId } : row);
            }

            var added = modes.Select(m => new TableTransactionAction(TableTransactionActionType.Add, SessionTable.ToEntity(step.SessionId, m)))
                .Concat(trace.Select(t => new TableTransactionAction(TableTransactionActionType.Add, SessionTable.ToEntity(step.SessionId, t))))
                .ToList();
            var addedBytes = added.Sum(TableLimits.TransactionBytes);
            if (lastId is not null && (rows.Count + added.Count + 1 > TableLimits.MaxTransactionEntities || bytes + addedBytes > ChunkRowBytes))
            {
                break; // the next chunk's first step
            }

            if (step.EventId is { } written)
            {
                writerIds.Add(written);
            }

            rows.AddRange(added);
            bytes += addedBytes;
            state = session;
            lastId = step.Id;
            done++;
        }

        if (lastId is null || state is null)
        {
            return done; // every step was stored already
        }

        var sessionEntity = SessionTable.ToEntity(state);
        sessionEntity[SessionTable.SpoolMarkProperty] = lastId;
        var actions = new List<TableTransactionAction>(rows.Count + 1)
        {
            stored is null
                ? new(TableTransactionActionType.Add, sessionEntity)
                : new(TableTransactionActionType.UpdateReplace, sessionEntity, stored.ETag),
        };
        actions.AddRange(rows);
        TableLimits.CheckTransaction(actions);
        var response = await table.SubmitTransactionAsync(actions, cancellationToken).ConfigureAwait(false);
        if (response.Value.Count > 0 && response.Value[0].Headers.ETag is { } etag)
        {
            cursor.Stored = new StoredSession(state, etag, lastId);
            cursor.Written.UnionWith(writerIds);
        }
        else
        {
            cursor.Read = false; // the service did not say: read again before the next chunk
        }

        return done;
    }

    /// <summary>Room for a chunk's rows in a 4 MiB transaction, the session row (at most 1 MiB) aside.</summary>
    private const long ChunkRowBytes = TableLimits.MaxTransactionBytes - TableLimits.MaxEntityBytes;

    /// <summary>The writer ids on the call's trace rows (every step's first row carries one): one query, their column only.</summary>
    private async Task<HashSet<string>> WriterIdsCoreAsync(string sessionId, CancellationToken cancellationToken)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var entity in table.QueryAsync<TableEntity>(TraceRange(sessionId, 0, null), maxPerPage: 1000, select: [SessionTable.EventIdProperty], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (entity.GetString(SessionTable.EventIdProperty) is { Length: > 0 } id)
            {
                ids.Add(id);
            }
        }

        return ids;
    }

    private static bool IsReplayConflict(RequestFailedException ex) => ex.Status is 409 or 412 || (ex.Status == 404 && !IsTableNotFound(ex));

    private async Task<bool> TryApplySpooledAsync(SpooledStep step, CancellationToken cancellationToken)
    {
        var stored = await LoadCoreAsync(step.SessionId, cancellationToken).ConfigureAwait(false);
        if (stored?.Erased == true)
        {
            return false; // the call was erased (on any instance): nothing of it is written again
        }

        if (step.EventId is null && stored?.SpoolMark is { } mark && string.CompareOrdinal(mark, step.Id) >= 0)
        {
            // Only for a step without a writer id: the mark orders this spool's ids, not another instance's.
            return false;
        }

        if (step.EventId is { } eventId && stored is not null && await IsWrittenByCoreAsync(step.SessionId, eventId, 0, cancellationToken).ConfigureAwait(false))
        {
            // Stored already: a try stored although its answer timed out, an answered event whose step reached storage
            // before the process died, or a second copy of a step replayed before (its rows carry the writer id too).
            return false;
        }

        var session = step.Session;
        IEnumerable<TraceEntry> trace = step.Trace;
        IEnumerable<ModeChange> modes = step.ModeChanges;
        if (stored is not null && !FitsStored(stored.State, step))
        {
            // Decided blind, or on a cache another instance has written past: after what is stored, keeping what is
            // stored except what the step itself changed.
            (session, trace, modes) = SpooledStepRebase.Rebase(stored.State, step);
        }

        if (step.EventId is { } writerId)
        {
            // The first row carries the writer id, as a commit's does: a later copy of this step is then recognised.
            trace = trace.Select((row, i) => i == 0 ? row with { EventId = writerId } : row);
        }

        var sessionEntity = SessionTable.ToEntity(session);
        sessionEntity[SessionTable.SpoolMarkProperty] = step.Id;
        var actions = new List<TableTransactionAction>
        {
            stored is null
                ? new(TableTransactionActionType.Add, sessionEntity)
                : new(TableTransactionActionType.UpdateReplace, sessionEntity, stored.ETag),
        };
        actions.AddRange(modes.Select(m => new TableTransactionAction(TableTransactionActionType.Add, SessionTable.ToEntity(step.SessionId, m))));
        actions.AddRange(trace.Select(t => new TableTransactionAction(TableTransactionActionType.Add, SessionTable.ToEntity(step.SessionId, t))));
        TableLimits.CheckTransaction(actions);
        await table.SubmitTransactionAsync(actions, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// The step was decided on exactly what is stored: its base known, and its first row right after the stored last one
    /// (every step writes at least one row, so any write of another instance since the step's base moved the stored last one).
    /// </summary>
    private static bool FitsStored(SessionState stored, SpooledStep step)
    {
        if (!step.BaseKnown || (step.Base is { } decidedOn && decidedOn.LastSeq != stored.LastSeq))
        {
            return false;
        }

        var first = step.Trace.Select(t => t.Seq).Concat(step.ModeChanges.Select(m => m.Seq)).DefaultIfEmpty(step.Session.LastSeq + 1).Min();
        return first == stored.LastSeq + 1;
    }
}

/// <summary>What one replay run knows of a call between its chunks (<see cref="SessionStore.ApplySpooledChunkAsync"/>): read once, then kept up to date by its own writes.</summary>
public sealed class ReplayCursor(string sessionId)
{
    public string SessionId { get; } = sessionId;

    /// <summary>Forget what was read: the call is read again before the next chunk (after writes the cursor did not see).</summary>
    public void Reset() => Read = false;

    /// <summary>False: read the call (again) before the next chunk.</summary>
    internal bool Read { get; set; }

    internal StoredSession? Stored { get; set; }

    internal HashSet<string> Written { get; set; } = new(StringComparer.Ordinal);
}
