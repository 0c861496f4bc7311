namespace VoiceFunctions.Calls;

/// <summary>
/// The answer's deadline: <see cref="CallOptions.ResponseBudget"/> from the event's arrival, whatever storage or the
/// chat model do (sipgate hangs up after about a second). Started when the event arrives; the answer either comes in
/// time (<see cref="MetByAsync"/>) or is given from memory at the deadline while the recording goes on.
/// </summary>
public sealed class AnswerDeadline : IDisposable
{
    private readonly CancellationTokenSource _timer = new();
    private readonly TimeSpan _budget;
    private readonly TimeProvider _time;
    private readonly Task _expired;

    public AnswerDeadline(TimeSpan budget, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        _budget = budget;
        _time = time;
        _expired = Task.Delay(budget, time, _timer.Token);
    }

    /// <summary>
    /// The filler has been spoken and the model may be about to answer: up to half the budget for it, so its reply
    /// goes out with this event instead of at a later quiet moment.
    /// </summary>
    public Task GraceForReplyAsync(Task thinking) => Task.WhenAny(thinking, Task.Delay(_budget / 2, _time));

    /// <summary>True when <paramref name="answering"/> finished before the deadline (the timer is stopped); false when the deadline came first.</summary>
    public async Task<bool> MetByAsync(Task answering)
    {
        if (await Task.WhenAny(answering, _expired).ConfigureAwait(false) != answering)
        {
            return false;
        }

        await _timer.CancelAsync().ConfigureAwait(false);
        return true;
    }

    public void Dispose() => _timer.Dispose();
}
