using VoiceFunctions.Calls;

namespace VoiceFunctions.Tests.Calls;

/// <summary>The answer deadline: met by an answer that is there in time, missed by one that never comes.</summary>
public sealed class AnswerDeadlineTests
{
    [Fact]
    public async Task An_answer_in_time_meets_the_deadline_and_one_that_never_comes_misses_it()
    {
        using (var deadline = new AnswerDeadline(TimeSpan.FromSeconds(30), TimeProvider.System))
        {
            Assert.True(await deadline.MetByAsync(Task.CompletedTask));
        }

        using (var deadline = new AnswerDeadline(TimeSpan.FromMilliseconds(100), TimeProvider.System))
        {
            var never = new TaskCompletionSource();
            Assert.False(await deadline.MetByAsync(never.Task));
        }
    }

    [Fact]
    public async Task The_grace_for_a_reply_ends_when_the_reply_is_there_or_at_half_the_budget()
    {
        using var deadline = new AnswerDeadline(TimeSpan.FromMilliseconds(200), TimeProvider.System);
        var never = new TaskCompletionSource();
        await deadline.GraceForReplyAsync(never.Task); // returns (at 100 ms) although the model never answers
        Assert.False(never.Task.IsCompleted);
        await deadline.GraceForReplyAsync(Task.CompletedTask);
    }
}
