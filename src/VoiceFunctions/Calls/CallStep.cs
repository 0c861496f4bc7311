using VoiceFunctions.AiFlow;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>What one event does to a call: the answer, the new session state and the rows to append.</summary>
public sealed record CallStep
{
    public required SessionState? Previous { get; init; }

    /// <summary>Null when the event changes nothing that is stored (unknown event types).</summary>
    public required SessionState? Next { get; init; }

    public required IReadOnlyList<AiFlowAction> Actions { get; init; }
    public IReadOnlyList<TraceEntry> Trace { get; init; } = [];
    public IReadOnlyList<ModeChange> ModeChanges { get; init; } = [];

    /// <summary>A caller turn on the pipeline that the chat model answers (set by <see cref="CallFlow.Decide"/>); null otherwise.</summary>
    public ModelTurn? Ask { get; init; }

    public bool IsNewSession => Previous is null && Next is not null;
    public bool WritesNothing => Next is null;
}

/// <summary>The caller turn the chat model is asked to answer: the persona, which turn, its trace row and its words.</summary>
public sealed record ModelTurn(string Persona, int Turn, long CallerSeq, string Text);

public sealed partial class CallFlow
{
    /// <summary>A step being decided: its state, actions and rows, each row numbered from the session's last sequence number.</summary>
    private sealed class StepBuilder(SessionState? previous, DateTimeOffset now)
    {
        private readonly List<TraceEntry> _trace = [];
        private readonly List<ModeChange> _modes = [];

        public DateTimeOffset Now => now;

        /// <summary>Null only until a new session's state is created.</summary>
        public SessionState State { get; set; } = null!;
        public List<AiFlowAction> Actions { get; } = [];

        public long Append(string kind, string? text = null, bool? bargedIn = null, string? digit = null, double? durationMs = null, string? detail = null)
        {
            var seq = NextSeq();
            _trace.Add(new TraceEntry
            {
                Seq = seq,
                At = Now,
                Kind = kind,
                Mode = State.Mode,
                Text = text,
                BargedIn = bargedIn,
                Digit = digit,
                DurationMs = durationMs,
                Detail = detail,
            });
            return seq;
        }

        public void ChangeMode(string? from, string to, string reason)
        {
            if (from == to)
            {
                return;
            }

            var seq = NextSeq();
            _modes.Add(new ModeChange { Seq = seq, At = Now, From = from, To = to, Reason = reason });
            State = State with { Mode = to };
        }

        private long NextSeq()
        {
            var seq = State.LastSeq + 1;
            State = State with { LastSeq = seq };
            return seq;
        }

        public CallStep Build() => new()
        {
            Previous = previous,
            Next = State,
            Actions = Actions,
            Trace = _trace,
            ModeChanges = _modes,
        };
    }
}
