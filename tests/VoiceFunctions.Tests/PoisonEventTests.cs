using System.Text.Json;
using System.Text.Json.Nodes;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>One app for the poison tests: bodies up to 1 MiB, so a turn can be longer than a table entity holds.</summary>
public sealed class PoisonApp(Azurite azurite) : IAsyncDisposable
{
    private readonly WebhookApp _app = new(azurite, new Dictionary<string, string?> { ["AiFlow:MaxBodyBytes"] = (1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture) });

    public CallClient Calls() => _app.Calls();

    public WebhookApp App => _app;

    public async ValueTask DisposeAsync() => await _app.DisposeAsync().ConfigureAwait(false);
}

/// <summary>
/// A "poison" event — a value longer than Table Storage takes — is answered as usual, stored shortened with the
/// reason on the row, and stalls no other call: no outage mode, nothing spooled (issue 15, item 1). Every other
/// call is read back right after its answers, without waiting for a replay.
/// </summary>
public sealed class PoisonEventTests(PoisonApp app) : IClassFixture<PoisonApp>
{
    private const int OtherCalls = 20;
    private readonly CallClient _calls = app.Calls();

    [Theory]
    [InlineData("account_id")]
    [InlineData("from_phone_number")]
    [InlineData("direction")]
    public async Task A_session_start_with_a_field_longer_than_storage_takes_is_answered_stored_shortened_and_stalls_no_other_call(string field)
    {
        var normal = await _calls.StartAsync(CallClient.NewSessionId());
        var poisoned = CallClient.NewSessionId();
        var start = CallClient.Event("session_start", poisoned);
        var sent = new string('7', 40_000);
        start["session"]![field] = sent;

        var answer = await _calls.SendAsync(start);

        Assert.Equal(normal.Select(a => a.Type), answer.Select(a => a.Type));
        await AssertOtherCallsAreStoredAsync(poisoned);
        var session = await _calls.GetSessionAsync(poisoned);
        Assert.Equal(sent[..256], session.GetProperty(field).GetString());
        Assert.Contains($"{field}:40000", session.GetProperty("shortened").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, session.GetProperty("start_count").GetInt32());
        Assert.Equal(1, session.GetProperty("turn_count").GetInt32()); // the turn said on it meanwhile
    }

    [Fact]
    public async Task A_session_end_reason_longer_than_storage_takes_is_stored_shortened_and_stalls_no_other_call()
    {
        var poisoned = CallClient.NewSessionId();
        await _calls.StartAsync(poisoned);
        var reason = string.Concat(Enumerable.Repeat("hangup ", 6_000)); // 42,000 characters

        using var response = await _calls.PostAsync(CallClient.Event("session_end", poisoned, fields: new JsonObject { ["reason"] = reason }));

        Assert.True(response.IsSuccessStatusCode, $"answered {(int)response.StatusCode}");
        await AssertOtherCallsAreStoredAsync(poisoned, endedAlready: true);
        var session = await _calls.GetSessionAsync(poisoned);
        Assert.Equal(reason[..(32 * 1024)], session.GetProperty("end_reason").GetString());
        Assert.Contains("end_reason:42000", session.GetProperty("shortened").GetString(), StringComparison.Ordinal);
        var end = session.GetProperty("trace").EnumerateArray().Single(t => t.GetProperty("kind").GetString() == "session_end");
        Assert.Equal(32 * 1024, end.GetProperty("detail").GetString()!.Length);
        Assert.Equal("detail:42000", end.GetProperty("shortened").GetString());
    }

    /// <summary>
    /// 600,000 characters are 1.2 MB as UTF-16: over Table Storage's 1 MiB entity (Azurite does not check that for an
    /// insert, so before the limits were checked here it was stored whole, and real storage would have refused it).
    /// </summary>
    [Fact]
    public async Task A_turn_longer_than_an_entity_holds_is_stored_up_to_what_fits_with_the_reason()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        var text = string.Concat(Enumerable.Range(0, 60_000).Select(i => $"word{i % 10_000:D5} "))[..600_000];

        await _calls.SayAsync(id, text);

        await AssertOtherCallsAreStoredAsync(id);
        var turn = (await _calls.GetSessionAsync(id)).GetProperty("trace").EnumerateArray().First(t => t.GetProperty("kind").GetString() == "caller");
        var stored = turn.GetProperty("text").GetString()!;
        Assert.InRange(stored.Length, 400_000, 524_288 - 1); // what 1 MiB of UTF-16 holds, less the row's other fields
        Assert.StartsWith(stored, text, StringComparison.Ordinal);
        Assert.Equal("text:600000", turn.GetProperty("shortened").GetString());
    }

    /// <summary>
    /// Right after the poisoned event, other calls (and one more turn of the poisoned one) interleave; each is
    /// readable at once with its turn, and the spool stays empty: the instance never went into outage mode.
    /// </summary>
    private async Task AssertOtherCallsAreStoredAsync(string poisoned, bool endedAlready = false)
    {
        var others = Enumerable.Range(0, OtherCalls).Select(_ => CallClient.NewSessionId()).ToList();
        await Task.WhenAll(others.Select(async (id, i) =>
        {
            using var calls = app.Calls();
            await calls.StartAsync(id);
            if (i == OtherCalls / 2 && !endedAlready)
            {
                await calls.SayAsync(poisoned, "Still there?");
            }

            await calls.SayAsync(id, $"Turn of call {i}.");
        }));

        foreach (var (id, i) in others.Select((id, i) => (id, i)))
        {
            using var response = await _calls.GetSessionResponseAsync(id);
            Assert.True(response.IsSuccessStatusCode, $"call {i} not readable right after its answers: {(int)response.StatusCode}");
            var session = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(1, session.GetProperty("turn_count").GetInt32());
            Assert.Contains(session.GetProperty("trace").EnumerateArray(), t => t.TryGetProperty("text", out var said) && said.GetString() == $"Turn of call {i}.");
        }

        var spooled = Directory.Exists(app.App.SpoolPath) ? Directory.EnumerateFiles(app.App.SpoolPath, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != ".lock").ToList() : []; // the worker's own lock
        Assert.True(spooled.Count == 0, $"{spooled.Count} files spooled: the instance went into outage mode");
    }
}
