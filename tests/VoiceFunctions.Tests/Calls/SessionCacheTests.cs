using VoiceFunctions.AiFlow;
using VoiceFunctions.Calls;

namespace VoiceFunctions.Tests.Calls;

/// <summary>The session cache's bound and the reply race's one decision.</summary>
public sealed class SessionCacheTests
{
    [Fact]
    public async Task Beyond_its_capacity_the_cache_drops_the_least_recently_used_idle_sessions_never_a_busy_one()
    {
        var cache = new SessionCache(capacity: 8);
        var slots = Enumerable.Range(0, 8).Select(i => cache.Get($"s{i}")).ToList();
        for (var i = 0; i < slots.Count; i++)
        {
            slots[i].LastUsed = i;
        }

        await slots[0].Lock.WaitAsync(TestContext.Current.CancellationToken); // the oldest, but its call holds its turn
        cache.Get("s8");

        Assert.Equal(8 - 2 + 1, cache.Count); // a quarter of the capacity dropped: s1 and s2, not the busy s0
        Assert.Same(slots[0], cache.Get("s0"));
        Assert.Same(slots[3], cache.Get("s3"));
        Assert.NotSame(slots[1], cache.Get("s1"));
        Assert.NotSame(slots[2], cache.Get("s2"));
    }

    [Fact]
    public async Task A_reply_race_is_decided_once_the_model_or_the_filler_never_both()
    {
        var modelFirst = new ReplyRace();
        Assert.True(modelFirst.TryInTime());
        Assert.False(modelFirst.TryFiller());
        modelFirst.Close(); // too late to change anything
        Assert.False(modelFirst.ClosedWithoutFiller);

        var fillerFirst = new ReplyRace();
        Assert.True(fillerFirst.TryFiller());
        Assert.False(fillerFirst.TryInTime());
        Assert.Empty(await fillerFirst.InTime.Task);

        var closed = new ReplyRace();
        closed.Close();
        Assert.True(closed.ClosedWithoutFiller);
        Assert.False(closed.TryInTime());
        Assert.False(closed.TryFiller());
        Assert.Equal(Array.Empty<AiFlowAction>(), await closed.InTime.Task);
    }
}
