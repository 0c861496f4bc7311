using VoiceFunctions.Calls;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Calls;

/// <summary>The step recorder against real Azurite, without HTTP: the conflict rule and own-write recognition.</summary>
public sealed class StepRecorderTests(Azurite azurite) : IDisposable
{
    private readonly CallParts _parts = new(azurite);

    [Fact]
    public async Task A_stale_instance_s_turn_conflicts_is_decided_again_and_lands_after_the_other_s()
    {
        var id = CallClient.NewSessionId();
        var (one, two) = (new SessionSlot(), new SessionSlot()); // the same call cached on two instances
        await _parts.RecordAsync(one, CallParts.Event("session_start", id));
        await _parts.RecordAsync(two, CallParts.Speak(id, "from two, first")); // two reads the call
        await _parts.RecordAsync(one, CallParts.Speak(id, "from one")); // one's cache is stale: conflict, reload
        var late = await _parts.RecordAsync(two, CallParts.Speak(id, "from two, second")); // now two's is

        var trace = await _parts.TraceAsync(id);
        Assert.Equal(["from two, first", "from one", "from two, second"], trace.Where(t => t.Kind == TraceKinds.Caller).Select(t => t.Text));
        Assert.Equal(trace.Select(t => t.Seq).Distinct().Order(), trace.Select(t => t.Seq));
        Assert.Equal(3, late.Next!.TurnCount);
        Assert.Equal(3, (await _parts.Store!.LoadAsync(id, TestContext.Current.CancellationToken))!.State.TurnCount);
    }

    [Fact]
    public async Task A_try_stored_although_its_answer_was_lost_is_recognised_by_its_writer_id_and_not_stored_again()
    {
        var id = CallClient.NewSessionId();
        var slot = new SessionSlot();
        await _parts.RecordAsync(slot, CallParts.Event("session_start", id));
        var turn = CallParts.Speak(id, "stored once");
        var ticket = _parts.Journal.Open(id, turn, DateTimeOffset.UtcNow);

        // An earlier try of this very event reached storage, but its answer never came back: the slot does not know.
        var earlier = _parts.Flow.Decide(slot.State, turn, DateTimeOffset.UtcNow);
        await _parts.Store!.CommitAsync(earlier with { Trace = [earlier.Trace[0] with { EventId = ticket.EventId }] }, slot.ETag, TestContext.Current.CancellationToken);

        var step = await _parts.RecordAsync(slot, turn, ticket);

        Assert.Equal(["stored once"], (await _parts.TraceAsync(id)).Where(t => t.Kind == TraceKinds.Caller).Select(t => t.Text));
        Assert.Equal(earlier.Next!.LastSeq, step.Next!.LastSeq);
    }

    [Fact]
    public async Task A_conflict_with_another_writer_s_row_is_not_mistaken_for_an_own_write()
    {
        var id = CallClient.NewSessionId();
        var slot = new SessionSlot();
        await _parts.RecordAsync(slot, CallParts.Event("session_start", id));
        var other = _parts.Flow.Decide(slot.State, CallParts.Speak(id, "another writer"), DateTimeOffset.UtcNow);
        await _parts.Store!.CommitAsync(other with { Trace = [other.Trace[0] with { EventId = "someone-else" }] }, slot.ETag, TestContext.Current.CancellationToken);

        var turn = CallParts.Speak(id, "mine");
        await _parts.RecordAsync(slot, turn, _parts.Journal.Open(id, turn, DateTimeOffset.UtcNow));

        Assert.Equal(["another writer", "mine"], (await _parts.TraceAsync(id)).Where(t => t.Kind == TraceKinds.Caller).Select(t => t.Text));
    }

    public void Dispose() => _parts.Dispose();
}
