using System.Net;
using System.Text.Json.Nodes;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// The spool trusts nothing it did not write: files planted in its folder (another call's content under a session's
/// folder, an unknown format version, an oversize file, a folder that is no session id) are moved aside to
/// <c>_quarantine</c> at start-up and never replayed into any call; the folder is owner-only. A kept answered event
/// (written when an answer went out before its step was durable) is recorded by the next start.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes: the app runs on Linux (Flex Consumption)
public sealed class SpoolIntegrityTests(Azurite azurite)
{
    [Fact]
    public async Task Planted_spool_files_are_moved_aside_and_never_replayed_into_any_call()
    {
        var spool = Path.Combine(Path.GetTempPath(), "voicefunctions-planted-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(spool);
        File.SetUnixFileMode(spool, (UnixFileMode)0b111_101_101); // 0755, as a careless operator left it
        var folderSession = CallClient.NewSessionId();
        var victim = CallClient.NewSessionId();
        var genuine = CallClient.NewSessionId();
        var stepId = $"{DateTime.UtcNow.Ticks:D19}-000001";

        Plant(spool, folderSession, stepId, Step(victim, "planted into another call")); // folder and content disagree
        Plant(spool, CallClient.NewSessionId(), stepId, Step(null, "unknown version", version: 99));
        Plant(spool, "not-a-session", "x", Step(victim, "not a session folder"));
        var huge = CallClient.NewSessionId();
        Directory.CreateDirectory(Path.Combine(spool, huge));
        await File.WriteAllBytesAsync(Path.Combine(spool, huge, stepId + ".json"), new byte[9 * 1024 * 1024]);
        Plant(spool, genuine, stepId, Step(genuine, "a genuine spooled turn")); // the control: this one is replayed

        await using var app = new WebhookApp(azurite, new Dictionary<string, string?> { ["Spool:Path"] = spool });
        using var calls = app.Calls();

        var replayed = await calls.WaitForSessionAsync(genuine, _ => true, TimeSpan.FromSeconds(30));
        Assert.Equal("a genuine spooled turn", replayed.GetProperty("trace")[0].GetProperty("text").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await calls.GetSessionResponseAsync(victim)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await calls.GetSessionResponseAsync(folderSession)).StatusCode);
        Assert.Equal(4, Directory.EnumerateFiles(Path.Combine(spool, "_quarantine")).Count());
        Assert.DoesNotContain(Directory.EnumerateFiles(spool, "*.json", SearchOption.AllDirectories), f => !f.Contains("_quarantine", StringComparison.Ordinal));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(spool));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(spool, "_quarantine")));
    }

    [Fact]
    public async Task An_answered_event_a_killed_process_left_on_disk_is_recorded_by_the_next_start_and_a_forged_one_is_not()
    {
        var spool = Path.Combine(Path.GetTempPath(), "voicefunctions-answered-" + Guid.NewGuid().ToString("N"));
        var id = CallClient.NewSessionId();
        var other = CallClient.NewSessionId();
        await using (var first = new WebhookApp(azurite, new Dictionary<string, string?> { ["Spool:Path"] = spool }))
        {
            using var calls = first.Calls();
            await calls.StartAsync(id);
            await calls.SayAsync(id, "stored");
        }

        var stepId = $"{DateTime.UtcNow.Ticks:D19}-000001";
        PlantAnswered(spool, id, stepId, id, "answered, then the process died");
        PlantAnswered(spool, id, $"{DateTime.UtcNow.Ticks:D19}-000002", other, "names another call than its folder");

        await using var second = new WebhookApp(azurite, new Dictionary<string, string?> { ["Spool:Path"] = spool });
        using var client = second.Calls();
        var session = await client.WaitForSessionAsync(id, s => s.GetProperty("turn_count").GetInt32() == 2, TimeSpan.FromSeconds(30));
        Assert.Equal(["stored", "answered, then the process died"], session.GetProperty("trace").EnumerateArray()
            .Where(t => t.GetProperty("kind").GetString() == "caller").Select(t => t.GetProperty("text").GetString()));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetSessionResponseAsync(other)).StatusCode);
        Assert.Single(Directory.EnumerateFiles(Path.Combine(spool, "_quarantine")));
    }

    /// <summary>
    /// Issue 23, item 6: a worker started on a shared spool folder replays what a dead worker left (its lock is free),
    /// never what a live one spooled (it holds its lock: here the test holds it, as that worker would).
    /// </summary>
    [Fact]
    public async Task A_starting_worker_replays_what_a_dead_worker_left_and_never_what_a_live_one_spooled()
    {
        var spool = Path.Combine(Path.GetTempPath(), "voicefunctions-shared-" + Guid.NewGuid().ToString("N"));
        var dead = CallClient.NewSessionId();
        var live = CallClient.NewSessionId();
        var stepId = $"{DateTime.UtcNow.Ticks:D19}-000001";
        Plant(Path.Combine(spool, "_process-dead"), dead, stepId, Step(dead, "left by a killed worker"));
        File.WriteAllText(Path.Combine(spool, "_process-dead", ".lock"), "");
        Plant(Path.Combine(spool, "_process-live"), live, stepId, Step(live, "still the live worker's"));
        using (new FileStream(Path.Combine(spool, "_process-live", ".lock"), FileMode.Create, FileAccess.ReadWrite, FileShare.None))
        {
            await using var app = new WebhookApp(azurite, new Dictionary<string, string?> { ["Spool:Path"] = spool });
            using var calls = app.Calls();

            var replayed = await calls.WaitForSessionAsync(dead, _ => true, TimeSpan.FromSeconds(30));
            Assert.Equal("left by a killed worker", replayed.GetProperty("trace")[0].GetProperty("text").GetString());
            Assert.False(Directory.Exists(Path.Combine(spool, "_process-dead")));
            await Task.Delay(TimeSpan.FromSeconds(2)); // two replay rounds
            Assert.Equal(HttpStatusCode.NotFound, (await calls.GetSessionResponseAsync(live)).StatusCode);
            Assert.True(File.Exists(Path.Combine(spool, "_process-live", live, stepId + ".json")));
        }
    }

    private static void Plant(string spool, string folder, string name, JsonObject content)
    {
        Directory.CreateDirectory(Path.Combine(spool, folder));
        File.WriteAllText(Path.Combine(spool, folder, name + ".json"), content.ToJsonString());
    }

    private static void PlantAnswered(string spool, string folder, string name, string eventSession, string text)
    {
        var evt = CallClient.Event("user_speak", eventSession, fields: new JsonObject { ["text"] = text });
        var answered = new JsonObject
        {
            ["Version"] = 1,
            ["EventId"] = Guid.NewGuid().ToString("N"),
            ["SessionId"] = folder,
            ["ReceivedAt"] = DateTimeOffset.UtcNow.ToString("O"),
            ["Event"] = evt.ToJsonString(),
        };
        Directory.CreateDirectory(Path.Combine(spool, "_answered", folder));
        File.WriteAllText(Path.Combine(spool, "_answered", folder, name + ".json"), answered.ToJsonString());
    }

    /// <summary>A spooled step as this app writes one: a new call with one caller turn.</summary>
    private static JsonObject Step(string? sessionId, string text, int version = 1)
    {
        sessionId ??= CallClient.NewSessionId();
        var now = DateTimeOffset.UtcNow.ToString("O");
        return new JsonObject
        {
            ["Version"] = version,
            ["SessionId"] = sessionId,
            ["BaseKnown"] = true,
            ["Session"] = new JsonObject
            {
                ["SessionId"] = sessionId,
                ["Persona"] = "default",
                ["Mode"] = "voice_to_voice",
                ["StartedAt"] = now,
                ["TurnCount"] = 1,
                ["StartCount"] = 0,
                ["LastSeq"] = 1,
            },
            ["Trace"] = new JsonArray(new JsonObject { ["Seq"] = 1, ["At"] = now, ["Kind"] = "caller", ["Mode"] = "voice_to_voice", ["Text"] = text }),
            ["ModeChanges"] = new JsonArray(),
        };
    }
}
