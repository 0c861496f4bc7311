using VoiceFunctions.AiFlow;
using VoiceFunctions.Calls;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Calls;

/// <summary>The outage buffer on a real local disk, made to fail as a disk fails (its folder replaced by a file): the order of a call's waiting steps.</summary>
public sealed class OutageBufferTests : IDisposable
{
    private readonly CallParts _parts = new();

    [Fact]
    public void Steps_held_while_the_disk_fails_keep_a_call_s_order_and_later_steps_queue_behind_them()
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var first = _parts.Spooled(null, id, "first");
        var second = _parts.Spooled(first.Session, id, "second");
        var third = _parts.Spooled(second.Session, id, "third");

        _parts.FailDisk();
        _parts.Buffer.Keep(first, null);
        _parts.Buffer.Keep(second, null);
        _parts.RestoreDisk();
        _parts.Buffer.Keep(third, null); // the disk works again, but the call's held steps come first

        Assert.Empty(_parts.Spool.Pending(id));
        Assert.Equal("third", _parts.Buffer.Newest(id)!.Trace[^1].Text);
        var waiting = _parts.Buffer.Waiting(id);
        Assert.Equal(["first", "second", "third"], waiting.Select(w => w.Step.Trace[^1].Text));
        Assert.Equal(waiting.Select(w => w.Step.Id).Order(StringComparer.Ordinal), waiting.Select(w => w.Step.Id));
        Assert.All(waiting, w => Assert.True(w.OnDisk)); // moved to disk, in order, before the replay reads them
        Assert.Empty(_parts.Buffer.HeldSessions());

        foreach (var step in waiting)
        {
            _parts.Buffer.Stored(step);
        }

        Assert.Empty(_parts.Buffer.Sessions());
        Assert.Null(_parts.Buffer.Newest(id));
    }

    [Fact]
    public void Held_steps_storage_takes_leave_memory_once_and_their_tickets_are_released()
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var first = _parts.Spooled(null, id, "first");
        var second = _parts.Spooled(first.Session, id, "second");
        var ticket = _parts.Journal.Open(id, CallParts.Speak(id, "second"), DateTimeOffset.UtcNow);
        _parts.FailDisk();
        _parts.Buffer.Keep(first, null);
        _parts.Buffer.Keep(second, ticket);

        var waiting = _parts.Buffer.Waiting(id); // the disk still fails: both stay in memory
        Assert.Equal(["first", "second"], waiting.Select(w => w.Step.Trace[^1].Text));
        Assert.All(waiting, w => Assert.False(w.OnDisk));
        _parts.Buffer.Stored(waiting[0]);
        _parts.Buffer.Stored(waiting[0]); // a second report of the same step changes nothing
        Assert.Equal(["second"], _parts.Buffer.Waiting(id).Select(w => w.Step.Trace[^1].Text));
        _parts.Buffer.Stored(waiting[1]);

        _parts.RestoreDisk();
        Assert.True(ticket.Keep()); // released with its step: a late Keep writes nothing
        Assert.Empty(_parts.Spool.Answered());
        Assert.Empty(_parts.Buffer.Sessions());
    }

    [Fact]
    public void Memory_holds_a_bounded_number_of_steps_and_erasure_drops_what_waits()
    {
        using var parts = new CallParts();
        var buffer = new OutageBuffer(parts.Spool, Microsoft.Extensions.Logging.Abstractions.NullLogger<OutageBuffer>.Instance, maxHeld: 2);
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var steps = new List<SpooledStep> { parts.Spooled(null, id, "1") };
        for (var i = 2; i <= 3; i++)
        {
            steps.Add(parts.Spooled(steps[^1].Session, id, $"{i}"));
        }

        parts.FailDisk();
        steps.ForEach(s => buffer.Keep(s, null));
        Assert.Equal(["1", "2"], buffer.Waiting(id).Select(w => w.Step.Trace[^1].Text)); // the third was lost (counted)

        parts.RestoreDisk();
        buffer.Drop(id);
        Assert.Empty(buffer.Waiting(id));
        Assert.Empty(buffer.Sessions());
    }

    public void Dispose() => _parts.Dispose();
}
