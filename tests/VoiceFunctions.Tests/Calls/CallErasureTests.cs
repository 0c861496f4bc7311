using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
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
        Assert.True((await _parts.Store!.LoadAsync(id, TestContext.Current.CancellationToken))!.Erased); // only the marker stays
    }

    [Fact]
    public async Task Erasure_removes_the_calls_quarantined_spool_files_and_no_other_calls()
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var other = SessionIds.Canonical(CallClient.NewSessionId());
        _parts.Outage!.Started();
        foreach (var session in new[] { id, other })
        {
            await _parts.RecordAsync(_parts.Cache.Get(session), CallParts.Event("session_start", session));
            _parts.Spool.Quarantine(Assert.Single(_parts.Spool.Pending(session)), "refused by storage");
        }

        var quarantine = Path.Combine(_parts.SpoolFolder, "_quarantine");
        Assert.Equal(2, Directory.EnumerateFiles(quarantine).Count());

        await _parts.Erasure!.EraseAsync(id, TestContext.Current.CancellationToken);

        var left = Assert.Single(Directory.EnumerateFiles(quarantine));
        Assert.Contains(other, Path.GetFileName(left), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retention_purges_orphan_rows_and_old_erasure_markers_and_keeps_recent_calls()
    {
        var orphan = SessionIds.Canonical(CallClient.NewSessionId());
        var erasedLongAgo = SessionIds.Canonical(CallClient.NewSessionId());
        var recent = SessionIds.Canonical(CallClient.NewSessionId());
        var old = DateTimeOffset.UtcNow.AddDays(-40);
        // Trace rows without a session row (left by an erasure that raced a live call before issue 23), back-dated 40 days.
        for (var seq = 1; seq <= 3; seq++)
        {
            await _parts.Table!.AddEntityAsync(SessionTable.ToEntity(orphan, new TraceEntry { Seq = seq, At = old, Kind = TraceKinds.Caller, Mode = SessionModes.VoiceToVoice, Text = "my account password is hunter2" }));
        }

        await _parts.Table!.AddEntityAsync(SessionTable.ErasureMarker(erasedLongAgo, old));
        await _parts.RecordAsync(_parts.Cache.Get(recent), CallParts.Event("session_start", recent));
        await _parts.RecordAsync(_parts.Cache.Get(recent), CallParts.Speak(recent, "a recent call"));

        var purge = new RetentionPurge(_parts.Store!, _parts.Erasure!, TimeProvider.System, Options.Create(new RetentionOptions { Days = 30 }), NullLogger<RetentionPurge>.Instance);
        var result = await purge.RunAsync(TestContext.Current.CancellationToken);

        Assert.Equal(2, result.Purged);
        Assert.Empty(await _parts.Table.QueryAsync<Azure.Data.Tables.TableEntity>(e => e.PartitionKey == orphan).ToListAsync(TestContext.Current.CancellationToken));
        Assert.Empty(await _parts.Table.QueryAsync<Azure.Data.Tables.TableEntity>(e => e.PartitionKey == erasedLongAgo).ToListAsync(TestContext.Current.CancellationToken));
        Assert.Equal("a recent call", Assert.Single(await _parts.TraceAsync(recent), t => t.Kind == TraceKinds.Caller).Text);
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
