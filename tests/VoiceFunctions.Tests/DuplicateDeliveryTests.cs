using System.Text.Json.Nodes;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// The protocol has no event id, so a repeated delivery is told apart from a caller repeating themselves by
/// the body: byte-identical, same session, the very previous event, within Calls:DuplicateWindow (2 s), and only
/// for events whose content tells occurrences apart (never a key press or a content-free event).
/// A repeat gets the same answer and is not recorded again.
/// </summary>
public sealed class DuplicateDeliveryTests(DefaultApp app) : IClassFixture<DefaultApp>
{
    private readonly CallClient _calls = app.Calls();

    [Fact]
    public async Task A_redelivered_event_is_answered_the_same_and_recorded_once()
    {
        var id = CallClient.NewSessionId();
        var start = CallClient.Event("session_start", id);
        var escalate = CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = "A human please." });

        var first = await _calls.SendAsync(start);
        var again = await _calls.SendAsync(start);
        var escalation = await _calls.SendAsync(escalate);
        var escalationAgain = await _calls.SendAsync(escalate);

        Assert.Equal(AiFlowJson.Serialize(first), AiFlowJson.Serialize(again));
        Assert.Equal(AiFlowJson.Serialize(escalation), AiFlowJson.Serialize(escalationAgain));
        var session = await _calls.GetSessionAsync(id);
        Assert.Equal(1, session.GetProperty("start_count").GetInt32());
        Assert.Equal(1, session.GetProperty("turn_count").GetInt32());
        Assert.Equal(2, session.GetProperty("mode_history").GetArrayLength());
    }

    [Fact]
    public async Task Every_key_press_counts_even_the_same_key_twice_in_a_row()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);

        foreach (var digit in "11555#")
        {
            await _calls.PressAsync(id, digit.ToString()); // identical bodies, well within the duplicate window
        }

        var digits = (await _calls.GetSessionAsync(id)).GetProperty("trace").EnumerateArray()
            .Where(t => t.GetProperty("kind").GetString() == "dtmf").Select(t => t.GetProperty("digit").GetString());
        Assert.Equal("11555#", string.Concat(digits));
    }

    [Fact]
    public async Task Events_without_content_are_each_recorded()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);

        await _calls.SendAsync(CallClient.Event("assistant_speech_ended", id));
        await _calls.SendAsync(CallClient.Event("assistant_speech_ended", id)); // a filler and the reply after it, both ended

        Assert.Equal(2, (await _calls.GetSessionAsync(id)).GetProperty("trace").EnumerateArray().Count(t => t.GetProperty("kind").GetString() == "assistant_speech_ended"));
    }

    [Fact]
    public async Task A_caller_saying_the_same_thing_again_after_something_else_is_two_turns()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);

        await _calls.SayAsync(id, "Hello?");
        await _calls.SendAsync(CallClient.Event("assistant_speak", id, fields: new JsonObject { ["text"] = "Yes, I am here.", ["duration_ms"] = 900 }));
        await _calls.SayAsync(id, "Hello?");

        Assert.Equal(2, (await _calls.GetSessionAsync(id)).GetProperty("turn_count").GetInt32());
    }

    [Fact]
    public async Task The_same_words_with_a_different_barge_in_flag_are_a_new_turn()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);

        await _calls.SayAsync(id, "Wait", bargedIn: false);
        await _calls.SayAsync(id, "Wait", bargedIn: true);

        Assert.Equal(2, (await _calls.GetSessionAsync(id)).GetProperty("turn_count").GetInt32());
    }
}

/// <summary>Outside the duplicate window an identical body is a new turn (the window is configurable).</summary>
public sealed class DuplicateWindowTests(Azurite azurite)
{
    [Fact]
    public async Task After_the_window_an_identical_event_counts_again()
    {
        await using var app = new WebhookApp(azurite, new Dictionary<string, string?> { ["Calls:DuplicateWindow"] = "00:00:00.200" });
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.StartAsync(id);
        var speak = CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = "Are you there?" });

        await calls.SendAsync(speak);
        await Task.Delay(400);
        await calls.SendAsync(speak);

        Assert.Equal(2, (await calls.GetSessionAsync(id)).GetProperty("turn_count").GetInt32());
    }
}
