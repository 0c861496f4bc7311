using VoiceFunctions.AiFlow;

namespace VoiceFunctions.Calls;

/// <summary>
/// Who answers a pipeline turn: the model's reply, if it is ready before the response budget runs out, or the
/// filler line. Decided once (compare-and-swap), so a reply is either in the answer or pending, never both.
/// </summary>
public sealed class ReplyRace
{
    private int _state; // 0 open, 1 the reply is in the answer, 2 the filler went out, 3 answered without either
    private IReadOnlyList<AiFlowAction>? _recorded;

    /// <summary>The turn the model is answering (set before <see cref="Recorded"/>).</summary>
    public ModelTurn? Ask { get; set; }

    /// <summary>The recorded turn's own actions, once recorded (then the model is thinking).</summary>
    public IReadOnlyList<AiFlowAction>? Recorded
    {
        get => Volatile.Read(ref _recorded);
        set => Volatile.Write(ref _recorded, value);
    }

    /// <summary>The reply's actions, when the model won; empty when the filler did.</summary>
    public TaskCompletionSource<IReadOnlyList<AiFlowAction>> InTime { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool TryInTime() => Interlocked.CompareExchange(ref _state, 1, 0) == 0;

    public bool ClosedWithoutFiller => Volatile.Read(ref _state) == 3;

    /// <summary>The answer went out without the model and without the filler (answered from memory, no model turn seen).</summary>
    public void Close()
    {
        if (Interlocked.CompareExchange(ref _state, 3, 0) == 0)
        {
            InTime.TrySetResult([]);
        }
    }

    public bool TryFiller()
    {
        if (Interlocked.CompareExchange(ref _state, 2, 0) != 0)
        {
            return false;
        }

        InTime.TrySetResult([]);
        return true;
    }
}
