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
