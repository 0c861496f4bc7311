using VoiceFunctions.AiFlow;
using VoiceFunctions.Calls;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Calls;

/// <summary>The answered-event journal on a real local disk: what a killed process left is recorded once by the next start.</summary>
public sealed class AnsweredJournalTests : IDisposable
{
    private readonly CallParts _parts = new();

    [Fact]
    public async Task An_event_a_killed_process_answered_is_decided_again_and_spooled_once_by_the_next_start()
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var start = _parts.Spooled(null, id, "before");
        _parts.Spool.Append(start);
        var turn = CallParts.Speak(id, "answered, then killed");
        var ticket = _parts.Journal.Open(id, turn, DateTimeOffset.UtcNow);
        Assert.True(ticket.Keep()); // answered at the budget; the process dies before the step is durable
        _parts.Spool.Dispose(); // the kernel drops a dead process's lock on its spool folder; its files stay

        using var next = new CallParts(spoolFolder: _parts.SpoolFolder); // the next start, on the same disk
        await next.Journal.RecoverAsync();
        using var third = new CallParts(spoolFolder: _parts.SpoolFolder);
        await third.Journal.RecoverAsync(); // and another: nothing is left to recover twice

        var pending = next.Spool.Pending(id);
        Assert.Equal(2, pending.Count);
        Assert.Equal(ticket.EventId, pending[1].EventId);
        Assert.Equal("answered, then killed", pending[1].Trace.Single(t => t.Kind == TraceKinds.Caller).Text);
        Assert.Equal(start.Session.LastSeq + 1, pending[1].Trace[0].Seq); // continues from the newest spooled state
        Assert.Empty(next.Spool.Answered());
    }

    [Fact]
    public async Task A_kept_event_whose_step_was_spooled_before_the_kill_is_released_not_spooled_again()
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var turn = CallParts.Speak(id, "spooled just in time");
        var ticket = _parts.Journal.Open(id, turn, DateTimeOffset.UtcNow);
        Assert.True(ticket.Keep());
        _parts.Spool.Append(_parts.Spooled(null, id, "spooled just in time", eventId: ticket.EventId)); // the process died before Release
        _parts.Spool.Dispose();

        using var next = new CallParts(spoolFolder: _parts.SpoolFolder);
        await next.Journal.RecoverAsync();

        Assert.Single(next.Spool.Pending(id));
        Assert.Empty(next.Spool.Answered());
    }

    [Fact]
    public void A_ticket_released_before_the_late_answer_keeps_nothing_on_disk()
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var ticket = _parts.Journal.Open(id, CallParts.Speak(id, "recorded first"), DateTimeOffset.UtcNow);
        ticket.Release();
        Assert.True(ticket.Keep());
        Assert.Empty(_parts.Spool.Answered());

        var kept = _parts.Journal.Open(id, CallParts.Speak(id, "kept first"), DateTimeOffset.UtcNow);
        Assert.True(kept.Keep());
        Assert.Single(_parts.Spool.Answered());
        kept.Release();
        Assert.Empty(_parts.Spool.Answered());
    }

    public void Dispose() => _parts.Dispose();
}
