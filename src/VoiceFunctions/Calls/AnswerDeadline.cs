namespace VoiceFunctions.Calls;

/// <summary>
/// The answer's deadline: <see cref="CallOptions.ResponseBudget"/> from the event's arrival, whatever storage or the
/// chat model do (sipgate hangs up after about a second). Started when the event arrives; the answer either comes in
/// time (<see cref="MetByAsync"/>) or is given from memory at the deadline while the recording goes on.
/// The clock starts at the request's arrival in the worker (the function's entry, before the body is read), not when
/// the handler starts: reading, parsing and queueing for the call count against sipgate's second too (issue 23, item 7).
/// <para>The budget is when the answer must have left the worker, so the late answer is decided <see cref="Reserve"/>
/// before it: deciding from memory, serializing and handing the answer back through the Functions host take time, and
/// when storage hangs every call's deadline falls due at once and those answers queue for the CPU (200 calls at once
/// on a 2-core machine: median 893 ms, max 940 ms from the client's send with the answers decided at the budget;
/// BudgetTests, issue 23 item 7).</para>
/// </summary>
public sealed class AnswerDeadline : IDisposable
{
    /// <summary>
    /// Kept for the way out: 50 ms (what the way out through the emulator's host hop measured with 10 calls at once:
    /// answers decided at 800 ms reached the client at 833-839 ms), or a sixteenth of a shorter budget. Not more: every
    /// millisecond kept here is taken from the chat model's reply on the pipeline (a 200 ms reserve turned pipeline
    /// replies into fillers on a loaded machine: PipelineChatMeasurement, PipelineChatMultiInstanceTests).
    /// </summary>
    public static TimeSpan Reserve(TimeSpan budget) => TimeSpan.FromTicks(Math.Min(TimeSpan.FromMilliseconds(50).Ticks, budget.Ticks / 16));

    private readonly CancellationTokenSource _timer = new();
    private readonly TimeSpan _budget;
    private readonly TimeProvider _time;
    private readonly Task _expired;

    /// <param name="budget">The whole budget, from arrival.</param>
    /// <param name="time">The clock.</param>
    /// <param name="arrivedAt">When the request arrived (<see cref="TimeProvider.GetTimestamp"/> of <paramref name="time"/>); null: now.</param>
    public AnswerDeadline(TimeSpan budget, TimeProvider time, long? arrivedAt = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        var spent = arrivedAt is { } arrived ? time.GetElapsedTime(arrived) : TimeSpan.Zero;
        var left = budget - Reserve(budget) - spent;
        _budget = left < TimeSpan.Zero ? TimeSpan.Zero : left;
        _time = time;
        _expired = Task.Delay(_budget, time, _timer.Token);
    }

    /// <summary>
    /// The filler has been spoken and the model may be about to answer: up to half the budget for it, so its reply
    /// goes out with this event instead of at a later quiet moment (half of what is left of it).
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

    /// <summary>True when <paramref name="answering"/> finished before half of the budget (what was left of it at the start) had passed.</summary>
    public async Task<bool> HalfwayMetByAsync(Task answering)
    {
        using var halfway = new CancellationTokenSource();
        await Task.WhenAny(answering, Task.Delay(_budget / 2, _time, halfway.Token)).ConfigureAwait(false);
        await halfway.CancelAsync().ConfigureAwait(false);
        return answering.IsCompleted;
    }

    public void Dispose() => _timer.Dispose();
}
