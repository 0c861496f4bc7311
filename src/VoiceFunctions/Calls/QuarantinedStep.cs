using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>
/// What is stored of a step that Table Storage refused for good (a permanent error, <see cref="StorageFailures"/>):
/// its rows and counters as decided, without anything that came from the request, and a <c>quarantined</c> trace
/// row with the error code. Sequence numbers, turn counts and mode changes stay right, so the call goes on; the
/// operator sees which rows lost their content (<c>shortened</c> on each) and why.
/// </summary>
public static class QuarantinedStep
{
    public static CallStep From(CallStep step, string reason, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(reason);
        var next = step.Next ?? throw new ArgumentException("The step writes nothing.", nameof(step));
        var previous = step.Previous;
        var shortened = new ShortenedFields(next.Shortened);

        // Session fields this step brought (the ones already stored are known to be storable).
        string? Kept(string? value, string? stored, string field)
        {
            if (value is null || value == stored)
            {
                return value;
            }

            shortened.Add(field, value.Length);
            return null;
        }

        var seq = next.LastSeq + 1;
        var state = next with
        {
            AccountId = Kept(next.AccountId, previous?.AccountId, nameof(SessionState.AccountId)),
            PhoneNumber = Kept(next.PhoneNumber, previous?.PhoneNumber, nameof(SessionState.PhoneNumber)),
            FromPhoneNumber = Kept(next.FromPhoneNumber, previous?.FromPhoneNumber, nameof(SessionState.FromPhoneNumber)),
            ToPhoneNumber = Kept(next.ToPhoneNumber, previous?.ToPhoneNumber, nameof(SessionState.ToPhoneNumber)),
            Direction = Kept(next.Direction, previous?.Direction, nameof(SessionState.Direction)),
            EndReason = Kept(next.EndReason, previous?.EndReason, nameof(SessionState.EndReason)),
            LastSeq = seq,
        };
        state = state with { Shortened = shortened.ToString() };

        var trace = step.Trace.Select(Stripped).Append(new TraceEntry
        {
            Seq = seq,
            At = at,
            Kind = TraceKinds.Quarantined,
            Mode = next.Mode,
            Detail = reason,
        }).ToList();
        return step with { Next = state, Trace = trace };
    }

    /// <summary>The row without the request's words, digit and note; what was dropped is noted with its length.</summary>
    private static TraceEntry Stripped(TraceEntry row)
    {
        var shortened = new ShortenedFields(row.Shortened);
        if (row.Text is { } text)
        {
            shortened.Add(nameof(TraceEntry.Text), text.Length);
        }

        if (row.Digit is { } digit)
        {
            shortened.Add(nameof(TraceEntry.Digit), digit.Length);
        }

        if (row.Detail is { } detail)
        {
            shortened.Add(nameof(TraceEntry.Detail), detail.Length);
        }

        return row with { Text = null, Digit = null, Detail = null, Shortened = shortened.ToString() };
    }
}
