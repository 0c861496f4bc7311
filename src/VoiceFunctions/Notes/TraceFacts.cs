using System.Text;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Notes;

/// <summary>
/// What the trace alone shows of a call (no text is read): duration, caller turns, keys pressed, escalation and
/// transfer, whether the caller hung up during the greeting. Notes without a model are exactly these; a model's notes
/// carry them too.
/// </summary>
public sealed class TraceFacts
{
    /// <summary>Keys kept in the notes; a caller typing a long number is cut here (the trace has them all).</summary>
    private const int MaxKeys = 64;

    private readonly StringBuilder _keys = new();
    private bool _transferSent;
    private bool _heardOrAnswered;

    public int Turns { get; private set; }
    public bool Escalated { get; private set; }
    public bool Transferred => _transferSent;
    public bool Ended { get; private set; }
    public long LastSeq { get; private set; }
    public DateTimeOffset? LastAt { get; private set; }
    public string? Keys => _keys.Length == 0 ? null : _keys.ToString();

    /// <summary>
    /// The call ended with nothing from the caller (no turn, no key) and before the assistant finished a line
    /// (no <c>assistant_speech_ended</c>): they hung up while the greeting played.
    /// </summary>
    public bool HungUpInGreeting => Ended && Turns == 0 && _keys.Length == 0 && !_heardOrAnswered;

    /// <summary>Adds one trace row, in order.</summary>
    public void Add(TraceEntry row)
    {
        ArgumentNullException.ThrowIfNull(row);
        LastSeq = Math.Max(LastSeq, row.Seq);
        LastAt = row.At > (LastAt ?? DateTimeOffset.MinValue) ? row.At : LastAt;
        switch (row.Kind)
        {
            case TraceKinds.Caller:
                Turns++;
                break;
            case TraceKinds.Dtmf when row.Digit is { Length: > 0 } digit:
                if (_keys.Length < MaxKeys)
                {
                    _keys.Append(digit);
                }

                break;
            case TraceKinds.Escalation:
                Escalated = true;
                break;
            case TraceKinds.PendingDelivered when row.Detail is { } detail && detail.StartsWith(Sessions.PendingPurposes.Handoff + ":", StringComparison.Ordinal) && detail.Contains("transfer", StringComparison.Ordinal):
                _transferSent = true;
                break;
            case TraceKinds.SessionResumed when row.Detail == "transfer_failed":
                // The platform returned the caller: the transfer did not connect.
                _transferSent = false;
                break;
            case TraceKinds.AssistantSpeechEnded:
                _heardOrAnswered = true;
                break;
            case TraceKinds.SessionEnd:
                Ended = true;
                break;
        }
    }

    /// <summary>What the trace says of the outcome; null when only the words could tell (resolved or a callback).</summary>
    public string? Outcome => Transferred ? NotesOutcomes.Transferred
        : Escalated ? NotesOutcomes.Escalated
        : HungUpInGreeting ? NotesOutcomes.Abandoned
        : null;

    /// <summary>Notes with these facts: the session's duration (to its end, else to its last row) and the rest.</summary>
    public CallNotes Apply(CallNotes notes, SessionState session)
    {
        ArgumentNullException.ThrowIfNull(notes);
        ArgumentNullException.ThrowIfNull(session);
        var end = session.EndedAt ?? LastAt;
        return notes with
        {
            DurationSeconds = end is { } e && e >= session.StartedAt ? (long)(e - session.StartedAt).TotalSeconds : null,
            Turns = Turns,
            Keys = Keys,
            Escalated = Escalated,
            Transferred = Transferred,
            HungUpInGreeting = HungUpInGreeting,
        };
    }
}
