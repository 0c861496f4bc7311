using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// Storage and process faults during live calls: every event is still answered correctly and within the
/// budget, and every transcript ends up in the table exactly once and in order (via the local spool).
/// Each test runs its own Azurite with a data folder, so it can be killed and restarted.
/// </summary>
public sealed class FaultTests : IAsyncLifetime
{
    /// <summary>The handler's budget is 800 ms; the client allows for the loopback round trip on a loaded 2-core machine.</summary>
    private static readonly TimeSpan AnswerLimit = TimeSpan.FromMilliseconds(1000);

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "voicefunctions-fault-" + Guid.NewGuid().ToString("N"));
    private Azurite _storage = null!;

    public async ValueTask InitializeAsync()
    {
        _storage = new Azurite { DataFolder = Path.Combine(_folder, "azurite") };
        await _storage.InitializeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _storage.DisposeAsync();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Storage_dies_mid_call_and_every_turn_is_answered_in_time_and_kept_in_order()
    {
        await using var app = new WebhookApp(_storage, new Dictionary<string, string?>
        {
            ["Spool:Path"] = Path.Combine(_folder, "spool"),
            ["Calls:ResponseBudget"] = "00:00:00.800", // the production default: this test is about the deadline
        });
        using var calls = app.Calls();
        await WebhookApp.WithLogsOnFailureAsync(async () =>
        {
            using (await calls.GetSessionResponseAsync(CallClient.NewSessionId()))
            {
                // untimed warm-up, as in StartHandlerAsync
            }

            var id = CallClient.NewSessionId();
            var said = new List<string>();

            Assert.IsType<ConfigureVoiceToVoiceAction>(Assert.Single(await TimedAsync(calls, CallClient.Event("session_start", id))));
            for (var i = 0; i < 3; i++)
            {
                said.Add($"before the outage {i}");
                Assert.Empty(await TimedAsync(calls, Speak(id, said[^1])));
            }

            await _storage.StopAsync();

            for (var i = 0; i < 4; i++)
            {
                said.Add($"during the outage {i} – ünïcödé 😀");
                Assert.Empty(await TimedAsync(calls, Speak(id, said[^1])));
            }

            var other = CallClient.NewSessionId();
            Assert.IsType<ConfigureVoiceToVoiceAction>(Assert.Single(await TimedAsync(calls, CallClient.Event("session_start", other))));
            Assert.Empty(await TimedAsync(calls, Speak(other, "a call that started while storage was down")));
            said.Add("I want a real person");
            Assert.Equal(["configure_transcription", "speak"], (await TimedAsync(calls, Speak(id, said[^1]))).Select(a => a.Type)); // transfer follows the line
            Assert.Empty(await TimedAsync(calls, CallClient.Event("session_end", id)));
            Assert.True(Directory.EnumerateFiles(Path.Combine(_folder, "spool"), "*.json", SearchOption.AllDirectories).Any(), "nothing was spooled");

            await _storage.StartAsync();

            var session = await calls.WaitForSessionAsync(id, s => s.TryGetProperty("ended_at", out _), TimeSpan.FromSeconds(30));
            AssertTraceIs(session, said);
            Assert.Equal(said.Count, session.GetProperty("turn_count").GetInt32());
            Assert.Equal(["session_start", "escalation_keyword"], session.GetProperty("mode_history").EnumerateArray().Select(m => m.GetProperty("reason").GetString()));
            var started = await calls.WaitForSessionAsync(other, s => s.GetProperty("turn_count").GetInt32() == 1, TimeSpan.FromSeconds(30));
            Assert.Equal("a call that started while storage was down", started.GetProperty("trace")[1].GetProperty("text").GetString());
            await WaitForEmptySpoolAsync(Path.Combine(_folder, "spool"));

            // After the replay the call goes on normally, straight to storage.
            Assert.Empty(await TimedAsync(calls, Speak(other, "after the outage")));
            Assert.Equal(2, (await calls.WaitForSessionAsync(other, s => s.GetProperty("turn_count").GetInt32() == 2)).GetProperty("turn_count").GetInt32());
        }, app);
    }

    [Fact]
    public async Task The_worker_killed_and_restarted_between_events_loses_nothing_even_during_an_outage()
    {
        var spool = Path.Combine(_folder, "spool");
        var id = CallClient.NewSessionId();
        var said = new List<string>();

        await using (var first = await StartHandlerAsync(spool))
        {
            using var calls = Client(first);
            Assert.Single(await TimedAsync(calls, CallClient.Event("session_start", id)));
            said.Add("first process, storage up");
            Assert.Empty(await TimedAsync(calls, Speak(id, said[^1])));
        }

        await using (var second = await StartHandlerAsync(spool))
        {
            using var calls = Client(second);
            said.Add("second process, storage up");
            Assert.Empty(await TimedAsync(calls, Speak(id, said[^1])));
            await _storage.StopAsync();
            said.Add("second process, storage down");
            Assert.Empty(await TimedAsync(calls, Speak(id, said[^1])));
        }

        await using (var third = await StartHandlerAsync(spool))
        {
            using var calls = Client(third);
            said.Add("third process, storage still down");
            Assert.Empty(await TimedAsync(calls, Speak(id, said[^1])));
            Assert.Empty(await TimedAsync(calls, CallClient.Event("session_end", id)));
            await _storage.StartAsync();
            var session = await calls.WaitForSessionAsync(id, s => s.TryGetProperty("ended_at", out _), TimeSpan.FromSeconds(30));
            AssertTraceIs(session, said);
            await WaitForEmptySpoolAsync(spool);
        }
    }

    [Fact]
    public async Task A_restart_during_an_outage_with_no_memory_of_the_call_appends_after_what_is_stored()
    {
        var spool = Path.Combine(_folder, "spool");
        var id = CallClient.NewSessionId();
        var said = new List<string>();

        await using (var first = await StartHandlerAsync(spool))
        {
            using var calls = Client(first);
            Assert.Single(await TimedAsync(calls, CallClient.Event("session_start", id)));
            said.Add("stored before the outage");
            Assert.Empty(await TimedAsync(calls, Speak(id, said[^1])));
        }

        await _storage.StopAsync();
        await using var second = await StartHandlerAsync(spool);
        using var client = Client(second);
        said.Add("new process knows nothing and storage is down");
        Assert.Empty(await TimedAsync(client, Speak(id, said[^1])));
        await _storage.StartAsync();

        var session = await client.WaitForSessionAsync(id, s => s.GetProperty("turn_count").GetInt32() == 2, TimeSpan.FromSeconds(30));
        AssertTraceIs(session, said);
        Assert.Single(session.GetProperty("mode_history").EnumerateArray());
    }

    [Fact]
    public async Task A_turn_answered_while_storage_hangs_survives_a_kill_right_after_its_answer()
    {
        var spool = Path.Combine(_folder, "spool");
        var id = CallClient.NewSessionId();
        var said = new List<string>();

        // A shorter budget than production: this test is about what survives the kill, and the answer at the budget
        // (plus writing the event to disk) must stay clear of the 1 s limit on a loaded machine.
        await using (var first = await StartHandlerAsync(spool, budget: "00:00:00.500"))
        {
            using var calls = Client(first);
            Assert.Single(await TimedAsync(calls, CallClient.Event("session_start", id)));
            said.Add("stored before storage hung");
            Assert.Empty(await TimedAsync(calls, Speak(id, said[^1])));

            // Storage hangs (no error, no answer): the turn is answered at the budget while its write still waits
            // (up to Calls:StorageOperationTimeout); the worker is killed right after the answer, long before that.
            await _storage.PauseAsync();
            said.Add("answered while storage hung");
            Assert.Empty(await TimedAsync(calls, Speak(id, said[^1])));
            await Task.Delay(100);
        } // SIGKILL

        await _storage.ResumeAsync();
        await using var second = await StartHandlerAsync(spool);
        using var client = Client(second);
        var session = await client.WaitForSessionAsync(id, s => s.GetProperty("turn_count").GetInt32() == 2, TimeSpan.FromSeconds(30));
        AssertTraceIs(session, said);
        await WaitForEmptySpoolAsync(spool);
    }

    [Fact]
    public async Task A_write_stored_after_its_try_timed_out_is_not_recorded_again_by_the_retry()
    {
        // Storage that answers too late: the first try's insert is stored, but only after the client gave up on it
        // (SessionStore:NetworkTimeout); the SDK's retry then meets the row the first try wrote (409).
        await using var app = new WebhookApp(_storage, new Dictionary<string, string?>
        {
            ["Spool:Path"] = Path.Combine(_folder, "spool"),
            ["SessionStore:NetworkTimeout"] = "00:00:01",
            ["Calls:StorageOperationTimeout"] = "00:00:04",
        });
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.StartAsync(id);
        await calls.SayAsync(id, "before");

        await _storage.PauseAsync();
        var answer = calls.SayAsync(id, "stored by the try that timed out");
        await Task.Delay(1500); // the first try timed out at 1 s, the retry waits (until 2 s)
        await _storage.ResumeAsync();
        Assert.Empty(await answer);
        await calls.SayAsync(id, "after");

        var session = await calls.GetSessionAsync(id);
        AssertTraceIs(session, ["before", "stored by the try that timed out", "after"]);
    }

    [Fact]
    public async Task Turns_neither_storage_nor_the_spool_can_take_are_held_and_written_when_the_disk_and_then_storage_return()
    {
        var spool = Path.Combine(_folder, "spool");
        await using var app = new WebhookApp(_storage, new Dictionary<string, string?> { ["Spool:Path"] = spool });
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        var said = new List<string>();
        await calls.StartAsync(id);
        said.Add("stored");
        await calls.SayAsync(id, said[^1]);

        await SayWhileStorageAndDiskFailAsync(calls, id, spool, said, turns: 5);

        // The disk comes back first: the held steps move to it, in order; then storage, and the replay stores them.
        File.Delete(spool);
        var clock = Stopwatch.StartNew();
        while (!Directory.Exists(spool) || Directory.EnumerateFiles(spool, "*.json", SearchOption.AllDirectories).Count() < 5)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the held steps did not reach the spool");
            await Task.Delay(100);
        }

        await _storage.StartAsync();
        var session = await calls.WaitForSessionAsync(id, s => s.GetProperty("turn_count").GetInt32() == said.Count, TimeSpan.FromSeconds(30));
        AssertTraceIs(session, said);
        await WaitForEmptySpoolAsync(spool);
    }

    [Fact]
    public async Task Turns_held_in_memory_go_straight_to_storage_when_it_returns_before_the_disk()
    {
        var spool = Path.Combine(_folder, "spool");
        await using var app = new WebhookApp(_storage, new Dictionary<string, string?> { ["Spool:Path"] = spool });
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        var said = new List<string>();
        await calls.StartAsync(id);
        await SayWhileStorageAndDiskFailAsync(calls, id, spool, said, turns: 3);

        await _storage.StartAsync();
        var session = await calls.WaitForSessionAsync(id, s => s.GetProperty("turn_count").GetInt32() == said.Count, TimeSpan.FromSeconds(30));
        AssertTraceIs(session, said);
    }

    [Fact]
    public async Task An_erasure_during_an_outage_is_kept_and_completed_when_storage_returns()
    {
        var spool = Path.Combine(_folder, "spool");
        await using var app = new WebhookApp(_storage, new Dictionary<string, string?> { ["Spool:Path"] = spool });
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        var other = CallClient.NewSessionId();
        await calls.StartAsync(id);
        await calls.SayAsync(id, "stored, then erased");
        await calls.StartAsync(other);

        await _storage.StopAsync();
        await calls.SayAsync(id, "spooled, then erased");
        await calls.SayAsync(other, "spooled, kept");
        using (var erase = await calls.Http.DeleteAsync(new Uri($"/api/sessions/{id}", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.Accepted, erase.StatusCode);
        }

        await ProblemAssert.IsProblemAsync(await calls.GetSessionResponseAsync(id), 404, "urn:voicefunctions:problem:session-not-found");
        Assert.Empty(await calls.SayAsync(id, "said after the erasure was accepted")); // answered, not recorded

        await _storage.StartAsync();
        var kept = await calls.WaitForSessionAsync(other, s => s.GetProperty("turn_count").GetInt32() == 1, TimeSpan.FromSeconds(30));
        Assert.Equal("spooled, kept", kept.GetProperty("trace")[1].GetProperty("text").GetString());
        await WaitForEmptySpoolAsync(spool);
        var clock = Stopwatch.StartNew();
        while (Directory.EnumerateFiles(Path.Combine(spool, "_erased")).Any())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the erasure was not completed");
            await Task.Delay(100);
        }

        // Nothing of the call is left in the table: not the stored rows, not the spooled ones, not the later turn.
        var table = new Azure.Data.Tables.TableClient(_storage.ConnectionString, "VoiceSessions");
        var left = await table.QueryAsync<Azure.Data.Tables.TableEntity>(e => e.PartitionKey == id).ToListAsync();
        Assert.True(left.Count == 1 && VoiceFunctions.Sessions.SessionTable.IsErasureMarker(left[0]), "only the erasure marker stays");
        await ProblemAssert.IsProblemAsync(await calls.GetSessionResponseAsync(id), 404, "urn:voicefunctions:problem:session-not-found");
    }

    /// <summary>Both fail: storage is down, and the spool folder is gone, a file in its place (a failing disk). Every turn is still answered in time.</summary>
    private async Task SayWhileStorageAndDiskFailAsync(CallClient calls, string id, string spool, List<string> said, int turns)
    {
        await _storage.StopAsync();
        Directory.Delete(spool, recursive: true);
        await File.WriteAllTextAsync(spool, "not a folder");
        for (var i = 0; i < turns; i++)
        {
            said.Add($"held {i}");
            Assert.Empty(await TimedAsync(calls, Speak(id, said[^1])));
        }
    }

    private static JsonObject Speak(string id, string text) => CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = text });

    private static async Task<IReadOnlyList<AiFlowAction>> TimedAsync(CallClient calls, JsonNode evt)
    {
        var clock = Stopwatch.StartNew();
        using var response = await calls.PostAsync(evt);
        var elapsed = clock.Elapsed;
        Assert.True(elapsed < AnswerLimit, $"{evt["type"]} took {elapsed.TotalMilliseconds:F0} ms");
        TestContext.Current.SendDiagnosticMessage($"answer latency {elapsed.TotalMilliseconds:F0} ms ({evt["type"]})");
        return await CallClient.ActionsAsync(response);
    }

    private static void AssertTraceIs(JsonElement session, List<string> said)
    {
        var trace = session.GetProperty("trace").EnumerateArray().ToList();
        Assert.Equal(said, trace.Where(t => t.GetProperty("kind").GetString() == "caller").Select(t => t.GetProperty("text").GetString()));
        var seqs = session.GetProperty("trace").EnumerateArray().Concat(session.GetProperty("mode_history").EnumerateArray()).Select(r => r.GetProperty("seq").GetInt64()).Order().ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs); // gapless, no duplicates
    }

    /// <summary>A fresh emulator + worker on the same storage and spool (the production budget: these tests are about the deadline).</summary>
    private async Task<KilledAtEnd> StartHandlerAsync(string spool, string budget = "00:00:00.800")
    {
        var app = new WebhookApp(_storage, new Dictionary<string, string?>
        {
            ["Spool:Path"] = spool,
            ["Calls:ResponseBudget"] = budget,
        });
        await app.StartAsync();

        // A fresh process compiles its request path on first use (seconds on a loaded 2-core machine); these tests are
        // about faults, not cold start (docs/benchmarks.md measures that), so one untimed read warms it first.
        using (var warm = app.Calls())
        {
            using var _ = await warm.GetSessionResponseAsync(CallClient.NewSessionId());
        }

        return new KilledAtEnd(app);
    }

    private static CallClient Client(KilledAtEnd handler) => handler.App.Calls();

    /// <summary>Ends the worker the hard way (SIGKILL, no graceful stop, no restart), as an instance being recycled would.</summary>
    private sealed class KilledAtEnd(WebhookApp app) : IAsyncDisposable
    {
        public WebhookApp App => app;

        public async ValueTask DisposeAsync()
        {
            // The instance, not just the worker: a killed worker alone is restarted by the host (and by the emulator).
            await app.Host.KillInstanceAsync();
            await app.DisposeAsync();
        }
    }

    private static async Task WaitForEmptySpoolAsync(string spool)
    {
        var clock = Stopwatch.StartNew();
        while (Directory.EnumerateFiles(spool, "*.json", SearchOption.AllDirectories).Any())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the spool was not drained");
            await Task.Delay(100);
        }
    }
}
