using Azure.Data.Tables;
using VoiceFunctions.Calls;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Calls;

/// <summary>
/// Issue 23, items 1 and 3: two instances (two <see cref="CallParts"/>: each its own cache, spool and outage state) on one
/// table in the shared Azurite. A step spooled on one is replayed while the other has written the call: the replay must
/// not overwrite a row it did not write, and must keep what is stored unless the step itself changed it.
/// </summary>
public sealed class ReplayAcrossInstancesTests : IDisposable
{
    private static readonly Persona Escalating = new() { SystemPrompt = "p", Escalation = new EscalationSettings { Keywords = ["real person"] } };

    private readonly CallParts _one;
    private readonly CallParts _two;

    public ReplayAcrossInstancesTests(Azurite azurite)
    {
        _one = new CallParts(azurite, persona: Escalating);
        _two = new CallParts(azurite, sharedTable: _one.Table, persona: Escalating);
    }

    [Fact]
    public async Task A_call_alternating_between_instances_keeps_the_other_s_turns_when_one_spools_during_a_blip()
    {
        // The case: instance one cannot reach storage for two of its events, instance two can.
        var id = CallClient.NewSessionId();
        var (one, two) = (_one.Cache.Get(id), _two.Cache.Get(id));
        await _one.RecordAsync(one, CallParts.Event("session_start", id));
        await _two.RecordAsync(two, CallParts.Speak(id, "two 1"));
        _one.Outage!.Started();
        await _one.RecordAsync(one, CallParts.Speak(id, "one 1")); // spooled, numbered from one's stale cache
        await _two.RecordAsync(two, CallParts.Speak(id, "two 2"));
        await _one.RecordAsync(one, CallParts.Speak(id, "one 2"));
        await _two.RecordAsync(two, CallParts.Speak(id, "two 3"));
        Assert.Equal(2, _one.Buffer.Waiting(id).Count);

        _one.Outage.Ended();
        Assert.Equal(2, await _one.Replay!.RunAsync(TestContext.Current.CancellationToken));
        await _two.RecordAsync(two, CallParts.Speak(id, "two 4")); // two's cache is stale now: conflict, reload
        await _one.RecordAsync(one, CallParts.Speak(id, "one 3"));

        var trace = await _one.TraceAsync(id);
        Assert.Equal(["two 1", "two 2", "two 3", "one 1", "one 2", "two 4", "one 3"], trace.Where(t => t.Kind == TraceKinds.Caller).Select(t => t.Text));
        await AssertGaplessAsync(id);
        Assert.Equal(7, (await _one.Store!.LoadAsync(id, TestContext.Current.CancellationToken))!.State.TurnCount);
    }

    [Fact]
    public async Task Replays_racing_another_instance_s_live_turns_overwrite_none_of_them()
    {
        // Steps decided blind (as after "gave up ... spooled", or a cold instance in an outage) replayed while the other
        // instance keeps inserting turns: between the replay's read and its write the other's rows land.
        var id = CallClient.NewSessionId();
        var two = _two.Cache.Get(id);
        await _two.RecordAsync(two, CallParts.Event("session_start", id));
        var one = _one.Cache.Get(id);
        _one.Outage!.Started();
        for (var i = 0; i < 30; i++)
        {
            await _one.RecordAsync(one, CallParts.Speak(id, $"one {i}"));
        }

        Assert.Equal(30, _one.Buffer.Waiting(id).Count);
        _one.Outage.Ended();
        var live = Task.Run(async () =>
        {
            for (var i = 0; i < 30; i++)
            {
                await _two.RecordAsync(two, CallParts.Speak(id, $"two {i}"));
            }
        });
        while (_one.Buffer.Waiting(id).Count > 0)
        {
            await _one.Replay!.RunAsync(TestContext.Current.CancellationToken);
        }

        await live;
        var trace = await _one.TraceAsync(id);
        var texts = trace.Where(t => t.Kind == TraceKinds.Caller).Select(t => t.Text!).ToList();
        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"two {i}"), texts.Where(t => t.StartsWith("two", StringComparison.Ordinal)));
        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"one {i}"), texts.Where(t => t.StartsWith("one", StringComparison.Ordinal)));
        await AssertGaplessAsync(id);
        Assert.Equal(60, (await _one.Store!.LoadAsync(id, TestContext.Current.CancellationToken))!.State.TurnCount);
    }

    [Fact]
    public async Task A_blind_step_replayed_after_an_escalation_keeps_the_escalation_and_its_pending_transfer()
    {
        var id = CallClient.NewSessionId();
        var one = _one.Cache.Get(id);
        await _one.RecordAsync(one, CallParts.Event("session_start", id));
        await _one.RecordAsync(one, CallParts.Speak(id, "a real person please"));
        var escalated = (await _one.Store!.LoadAsync(id, TestContext.Current.CancellationToken))!.State;
        Assert.True(escalated.Escalated);

        // Instance two has never seen the call and cannot read it: it decides the turn blind and spools it.
        var two = _two.Cache.Get(id);
        _two.Outage!.Started();
        var blind = await _two.RecordAsync(two, CallParts.Speak(id, "hello?"));
        Assert.Null(blind.Previous);
        _two.Outage.Ended();
        Assert.Equal(1, await _two.Replay!.RunAsync(TestContext.Current.CancellationToken));

        var stored = (await _one.Store.LoadAsync(id, TestContext.Current.CancellationToken))!.State;
        Assert.Equal(SessionModes.Pipeline, stored.Mode);
        Assert.True(stored.Escalated);
        Assert.Equal(PendingPurposes.Handoff, stored.Pending?.Purpose);
        Assert.Equal(escalated.Pending!.CreatedAt, stored.Pending!.CreatedAt);
        Assert.DoesNotContain(await ModesAsync(id), m => m.Reason == ModeChangeReasons.Assumed);

        // The next quiet moment, on a cold instance, delivers the transfer the caller asked for, and says so.
        var cold = new SessionSlot();
        var delivered = await _one.RecordAsync(cold, CallParts.Event("assistant_speech_ended", id));
        Assert.Equal(escalated.Pending.Actions.Select(a => a.Type), delivered.Actions.Select(a => a.Type));
        var trace = await _one.TraceAsync(id);
        Assert.Equal(TraceKinds.PendingDelivered, trace[^1].Kind);
        Assert.DoesNotContain(trace, t => t.Kind == TraceKinds.PendingDropped);
        Assert.Equal(SessionModes.Pipeline, trace.Single(t => t.Text == "hello?").Mode); // the mode the call was in, not the one assumed
        await AssertGaplessAsync(id);
    }

    [Fact]
    public async Task A_delivered_transfer_replayed_after_another_instance_s_row_keeps_both_rows_and_clears_the_pending_set()
    {
        var id = CallClient.NewSessionId();
        var one = _one.Cache.Get(id);
        await _one.RecordAsync(one, CallParts.Event("session_start", id));
        await _one.RecordAsync(one, CallParts.Speak(id, "a real person please"));
        var two = _two.Cache.Get(id);
        await _two.RecordAsync(two, CallParts.Event("assistant_speak", id, new() { ["text"] = "One moment please" })); // leaves the transfer pending

        // One answers the line's end from its (now stale) cache with the transfer while storage is away for it.
        _one.Outage!.Started();
        var delivered = await _one.RecordAsync(one, CallParts.Event("assistant_speech_ended", id));
        Assert.Contains(delivered.Actions, a => a.Type is "transfer" or "hangup");
        _one.Outage.Ended();
        Assert.Equal(1, await _one.Replay!.RunAsync(TestContext.Current.CancellationToken));

        var trace = await _one.TraceAsync(id);
        Assert.Contains(trace, t => t.Kind == TraceKinds.Assistant);
        Assert.Equal(TraceKinds.PendingDelivered, trace[^1].Kind);
        var stored = (await _one.Store!.LoadAsync(id, TestContext.Current.CancellationToken))!.State;
        Assert.Null(stored.Pending);
        Assert.True(stored.Escalated);
        Assert.Equal(SessionModes.Pipeline, stored.Mode);
        await AssertGaplessAsync(id);
    }

    /// <summary>Every number used once, none skipped: trace and mode rows share the call's sequence.</summary>
    private async Task AssertGaplessAsync(string sessionId)
    {
        var seqs = (await _one.TraceAsync(sessionId)).Select(t => t.Seq).Concat((await ModesAsync(sessionId)).Select(m => m.Seq)).Order().ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
    }

    private async Task<List<ModeChange>> ModesAsync(string sessionId)
    {
        var rows = new List<ModeChange>();
        await foreach (var entity in _one.Table!.QueryAsync<TableEntity>(e => e.PartitionKey == sessionId))
        {
            if (entity.RowKey.StartsWith(SessionTable.ModePrefix, StringComparison.Ordinal))
            {
                rows.Add(SessionTable.ToModeChange(entity));
            }
        }

        return rows;
    }

    public void Dispose()
    {
        _one.Dispose();
        _two.Dispose();
    }
}
