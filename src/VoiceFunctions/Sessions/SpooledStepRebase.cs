using VoiceFunctions.Calls;

namespace VoiceFunctions.Sessions;

/// <summary>
/// Puts a spooled step after what storage holds when it is replayed (issue 23, items 1 and 3): its rows get the
/// sequence numbers after the stored session's last one (nothing another instance wrote is reused), and the session
/// row keeps what is stored except the fields the step itself changed. What a step changed is what differs between
/// <see cref="SpooledStep.Base"/> (the state it was decided on) and <see cref="SpooledStep.Session"/>; a step decided
/// blind (<see cref="SpooledStep.BaseKnown"/> false: the stored session could not be read) assumed a new call, so only
/// what it set beyond a new call's defaults counts (an escalation it decided, a pending set it created), and its
/// "this call starts in mode X" rows are no change for a call that exists.
/// </summary>
public static class SpooledStepRebase
{
    public static (SessionState Session, IReadOnlyList<TraceEntry> Trace, IReadOnlyList<ModeChange> Modes) Rebase(SessionState stored, SpooledStep step)
    {
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(step);
        var next = stored.LastSeq;
        var mode = stored.Mode;
        var modes = new List<ModeChange>();
        var trace = new List<TraceEntry>();
        var rows = step.ModeChanges.Select(m => (m.Seq, Row: (object)m)).Concat(step.Trace.Select(t => (t.Seq, Row: (object)t))).OrderBy(r => r.Seq);
        foreach (var (_, row) in rows)
        {
            if (row is ModeChange change)
            {
                if (change.From is null || change.To == mode)
                {
                    continue; // "this call starts in mode X", or a change to the mode it is in: no change for this call
                }

                modes.Add(change with { Seq = ++next, From = mode });
                mode = change.To;
            }
            else if (row is TraceEntry entry)
            {
                // A blind step's rows name the mode it assumed; the call was in the stored one.
                trace.Add(step.BaseKnown || step.Base is not null ? entry with { Seq = ++next } : entry with { Seq = ++next, Mode = mode });
            }
        }

        var decided = step.Session;
        var session = stored with
        {
            Mode = mode,
            AccountId = stored.AccountId ?? decided.AccountId, // numbers a later event knew: filled, never overwritten
            PhoneNumber = stored.PhoneNumber ?? decided.PhoneNumber,
            FromPhoneNumber = stored.FromPhoneNumber ?? decided.FromPhoneNumber,
            ToPhoneNumber = stored.ToPhoneNumber ?? decided.ToPhoneNumber,
            Direction = stored.Direction ?? decided.Direction,
            Shortened = stored.Shortened ?? decided.Shortened,
            TurnCount = stored.TurnCount + step.Trace.Count(t => t.Kind == TraceKinds.Caller),
            StartCount = stored.StartCount + step.Trace.Count(t => t.Kind is TraceKinds.SessionStart or TraceKinds.SessionResumed),
            EndedAt = decided.EndedAt ?? stored.EndedAt,
            EndReason = decided.EndReason ?? stored.EndReason,
            Escalated = Changed(step, s => s.Escalated, false) ? decided.Escalated : stored.Escalated,
            Pending = MergePending(stored.Pending, step),
            ModelFailures = Changed(step, s => s.ModelFailures, 0) ? decided.ModelFailures : stored.ModelFailures,
            LastSeq = next,
        };
        return (session, trace, modes);
    }

    /// <summary>
    /// Whether the step changed a field: against its base when known; a blind step, against a new call's default; a
    /// step spooled before the base was kept (format 1 without <see cref="SpooledStep.Base"/>, base known) as before: yes.
    /// </summary>
    private static bool Changed<T>(SpooledStep step, Func<SessionState, T> field, T blindDefault)
    {
        var value = field(step.Session);
        if (step.Base is { } decidedOn)
        {
            return !EqualityComparer<T>.Default.Equals(value, field(decidedOn));
        }

        return !step.BaseKnown ? !EqualityComparer<T>.Default.Equals(value, blindDefault) : true;
    }

    /// <summary>
    /// The pending set after the step: one it created wins; one it consumed (delivered or dropped, with its trace row)
    /// is gone only if it is still the one stored (another instance may have replaced it meanwhile); one it never saw
    /// (a blind step) stays as stored, for the next event to deliver or drop.
    /// </summary>
    private static PendingActions? MergePending(PendingActions? stored, SpooledStep step)
    {
        var after = step.Session.Pending;
        var before = step.Base?.Pending;
        if (step.Base is null && step.BaseKnown)
        {
            return after; // an old spool file: its decision as it was
        }

        if (after is not null && !Same(after, before))
        {
            return after;
        }

        if (after is null && before is not null)
        {
            return Same(stored, before) ? null : stored;
        }

        return stored;
    }

    private static bool Same(PendingActions? a, PendingActions? b) =>
        a is null ? b is null : b is not null && a.Purpose == b.Purpose && a.CreatedAt == b.CreatedAt;
}
