using Azure;
using Azure.Data.Tables;
using VoiceFunctions.Calls;

namespace VoiceFunctions.Sessions;

/// <summary>A spooled step written into storage (<see cref="SessionStore.ApplySpooledAsync"/>), the replay of what waited out an outage.</summary>
public sealed partial class SessionStore
{
    /// <summary>
    /// Writes a spooled step idempotently (upserts of the same rows), re-basing its sequence numbers on the
    /// stored session when it was decided without it. A step already applied (its id is the session row's
    /// <c>SpoolMark</c> or older) is skipped, so a replay interrupted after the write is not doubled; so is a step whose
    /// writer id is on a stored row already (<see cref="IsWrittenByAsync"/>).
    /// </summary>
    public Task ApplySpooledAsync(SpooledStep step, CancellationToken cancellationToken) =>
        WithTableAsync(() => ApplySpooledCoreAsync(step, cancellationToken), cancellationToken);

    private async Task<bool> ApplySpooledCoreAsync(SpooledStep step, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        var stored = await LoadCoreAsync(step.SessionId, cancellationToken).ConfigureAwait(false);
        if (stored?.Erased == true)
        {
            return false; // the call was erased (on any instance): nothing of it is written again
        }

        if (stored?.SpoolMark is { } mark && string.CompareOrdinal(mark, step.Id) >= 0)
        {
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
        if (!step.BaseKnown && stored is not null)
        {
            (session, trace, modes) = Rebase(stored.State, step);
        }

        if (step.EventId is { } writerId)
        {
            // The first row carries the writer id, as a commit's does: a later copy of this step is then recognised.
            trace = trace.Select((row, i) => i == 0 ? row with { EventId = writerId } : row);
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

}
