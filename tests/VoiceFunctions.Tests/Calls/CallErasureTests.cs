using VoiceFunctions.AiFlow;
using VoiceFunctions.Calls;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Calls;

/// <summary>Erasure during an outage and the replay after it, against real Azurite, without HTTP.</summary>
public sealed class CallErasureTests(Azurite azurite) : IDisposable
{
    private readonly CallParts _parts = new(azurite);

    [Fact]
    public async Task An_erasure_during_an_outage_is_kept_records_nothing_meanwhile_and_is_completed_by_the_replay()
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var slot = _parts.Cache.Get(id);
        await _parts.RecordAsync(slot, CallParts.Event("session_start", id));
        _parts.Outage!.Started(); // storage just failed
        await _parts.RecordAsync(slot, CallParts.Speak(id, "spooled in the outage"));
        Assert.Single(_parts.Spool.Pending(id));

        Assert.False(await _parts.Erasure!.EraseAsync(id, TestContext.Current.CancellationToken)); // kept, not done
        Assert.True(_parts.Erasure.IsPending(id));
        Assert.Empty(_parts.Buffer.Sessions()); // its waiting steps went with it
        await _parts.RecordAsync(_parts.Cache.Get(id), CallParts.Speak(id, "after the erasure"));
        Assert.Empty(_parts.Buffer.Sessions()); // nothing of an erased call is recorded

        _parts.Outage.Ended();
        await _parts.Replay!.RunAsync(TestContext.Current.CancellationToken);

        Assert.False(_parts.Erasure.IsPending(id));
        Assert.Empty(await _parts.TraceAsync(id));
        Assert.Null(await _parts.Store!.LoadAsync(id, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Steps_spooled_in_an_outage_are_replayed_in_order_once()
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var slot = _parts.Cache.Get(id);
        await _parts.RecordAsync(slot, CallParts.Event("session_start", id));
        _parts.Outage!.Started();
        foreach (var text in new[] { "one", "two", "three" })
        {
            await _parts.RecordAsync(slot, CallParts.Speak(id, text));
        }

        Assert.Equal(3, await _parts.Replay!.RunAsync(TestContext.Current.CancellationToken));
        Assert.Equal(0, await _parts.Replay.RunAsync(TestContext.Current.CancellationToken));
        await _parts.RecordAsync(slot, CallParts.Speak(id, "four")); // stored again, after the replayed ones

        var trace = await _parts.TraceAsync(id);
        Assert.Equal(["one", "two", "three", "four"], trace.Where(t => t.Kind == TraceKinds.Caller).Select(t => t.Text));
        Assert.Equal(4, (await _parts.Store!.LoadAsync(id, TestContext.Current.CancellationToken))!.State.TurnCount);
    }

    public void Dispose() => _parts.Dispose();
}
