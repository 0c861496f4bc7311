using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>Each webhook behaviour over real HTTP, stored in and read back from real Azurite.</summary>
public sealed class CallTests(DefaultApp app) : IClassFixture<DefaultApp>
{
    private readonly CallClient _calls = app.Calls();

    [Fact]
    public async Task Session_start_switches_a_new_call_to_voice_to_voice_with_the_default_persona()
    {
        var id = CallClient.NewSessionId();

        var actions = await _calls.StartAsync(id);

        var v2v = Assert.IsType<ConfigureVoiceToVoiceAction>(Assert.Single(actions));
        Assert.Equal(id, v2v.SessionId);
        Assert.Equal(TestPersonas.DefaultPrompt, v2v.SystemPrompt);
        Assert.Equal(TestPersonas.DefaultGreeting, v2v.Greeting);
        Assert.Equal(0.5, v2v.Temperature);
        Assert.Equal("en", v2v.Language);

        var session = await _calls.GetSessionAsync(id);
        Assert.Equal("voice_to_voice", session.GetProperty("mode").GetString());
        Assert.Equal("default", session.GetProperty("persona").GetString());
        var change = Assert.Single(session.GetProperty("mode_history").EnumerateArray());
        Assert.Equal("voice_to_voice", change.GetProperty("to").GetString());
        Assert.Equal("session_start", change.GetProperty("reason").GetString());
    }

    [Theory]
    [InlineData("+4921155660", null)]
    [InlineData("4921155660", null)]
    [InlineData(null, "+4921155660")]
    [InlineData(null, "4921155660")]
    public async Task The_persona_is_chosen_by_the_called_number_with_or_without_plus(string? to, string? flowNumber)
    {
        var id = CallClient.NewSessionId();
        var evt = new JsonObject
        {
            ["session"] = new JsonObject { ["id"] = id, ["phone_number"] = flowNumber, ["to_phone_number"] = to },
            ["type"] = "session_start",
        };

        var v2v = Assert.IsType<ConfigureVoiceToVoiceAction>(Assert.Single(await _calls.SendAsync(evt)));

        Assert.Equal(TestPersonas.GermanPrompt, v2v.SystemPrompt);
        Assert.Equal("de", v2v.Language);
        Assert.Equal("german", (await _calls.GetSessionAsync(id)).GetProperty("persona").GetString());
    }

    [Fact]
    public async Task A_session_with_only_an_id_gets_the_default_persona()
    {
        var id = CallClient.NewSessionId();

        var actions = await _calls.SendAsync(new JsonObject { ["type"] = "session_start", ["session"] = new JsonObject { ["id"] = id } });

        Assert.Equal(TestPersonas.DefaultPrompt, Assert.IsType<ConfigureVoiceToVoiceAction>(Assert.Single(actions)).SystemPrompt);
    }

    [Fact]
    public async Task Where_voice_to_voice_is_gated_the_call_runs_on_the_pipeline_and_says_so()
    {
        var id = CallClient.NewSessionId();

        var actions = await _calls.StartAsync(id, to: TestPersonas.GatedNumber);

        Assert.Collection(
            actions,
            a =>
            {
                var t = Assert.IsType<ConfigureTranscriptionAction>(a);
                Assert.Equal("DEEPGRAM", t.Provider);
                Assert.Equal(["de-DE"], t.Languages!);
            },
            a => Assert.Equal(TestPersonas.GatedGreeting, Assert.IsType<SpeakAction>(a).Text));
        var session = await _calls.GetSessionAsync(id);
        Assert.Equal("pipeline", session.GetProperty("mode").GetString());
        Assert.Equal("access_gate", Assert.Single(session.GetProperty("mode_history").EnumerateArray()).GetProperty("reason").GetString());
    }

    [Fact]
    public async Task User_speak_is_traced_exactly_and_answered_with_nothing_in_voice_to_voice_mode()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        string[] said =
        [
            "Hallo, ich möchte einen Termin – am Dienstag?",
            "😀👍🏽 emoji with modifiers, 汉字, العربية, e\u0301 (combining)",
            "  leading and trailing spaces  ",
            string.Empty,
            "quotes \" and backslashes \\ and <tags> & 'single'",
        ];

        for (var i = 0; i < said.Length; i++)
        {
            using var response = await _calls.PostAsync(CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = said[i], ["barged_in"] = i == 1 }));
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        var trace = (await _calls.GetSessionAsync(id)).GetProperty("trace").EnumerateArray().Where(t => t.GetProperty("kind").GetString() == "caller").ToList();
        Assert.Equal(said, trace.Select(t => t.GetProperty("text").GetString()));
        Assert.Equal([false, true, false, false, false], trace.Select(t => t.GetProperty("barged_in").GetBoolean()));
        Assert.All(trace, t => Assert.Equal("voice_to_voice", t.GetProperty("mode").GetString()));
        Assert.All(trace, t => Assert.True(t.GetProperty("at").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-5)));
    }

    [Fact]
    public async Task A_returning_session_start_resets_nothing_and_reasserts_the_mode()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        await _calls.SayAsync(id, "first");

        var again = await _calls.StartAsync(id);
        await _calls.SayAsync(id, "second");

        var v2v = Assert.IsType<ConfigureVoiceToVoiceAction>(Assert.Single(again));
        Assert.Null(v2v.Greeting);
        var session = await _calls.GetSessionAsync(id);
        Assert.Single(session.GetProperty("mode_history").EnumerateArray());
        Assert.Equal(2, session.GetProperty("start_count").GetInt32());
        Assert.Equal(2, session.GetProperty("turn_count").GetInt32());
        Assert.Equal(
            ["session_start", "caller", "session_resumed", "caller"],
            session.GetProperty("trace").EnumerateArray().Select(t => t.GetProperty("kind").GetString()));
    }

    [Fact]
    public async Task A_spoken_keyword_escalates_to_the_pipeline_and_transfers_to_a_human()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);

        var actions = await _calls.SayAsync(id, "Can I talk to a REAL   person, please?");
        // The transfer follows once the hand-off line has been spoken (issue 13), not in the same answer.
        var afterLine = await _calls.SendAsync(CallClient.Event("assistant_speech_ended", id));

        Assert.Collection(
            actions,
            a => Assert.Equal("AZURE", Assert.IsType<ConfigureTranscriptionAction>(a).Provider),
            a => Assert.Equal("Connecting you now.", Assert.IsType<SpeakAction>(a).Text));
        var transfer = Assert.IsType<TransferAction>(Assert.Single(afterLine));
        Assert.Equal(TestPersonas.TransferTarget, transfer.TargetPhoneNumber);
        Assert.Equal("Test Desk", transfer.CallerIdName);
        Assert.Equal("+4921100000001", transfer.CallerIdNumber); // the flow's number the transfer is placed from
        Assert.Equal(30, transfer.Timeout);
        var session = await _calls.GetSessionAsync(id);
        Assert.Equal("pipeline", session.GetProperty("mode").GetString());
        var history = session.GetProperty("mode_history").EnumerateArray().ToList();
        Assert.Equal(2, history.Count);
        Assert.Equal("voice_to_voice", history[1].GetProperty("from").GetString());
        Assert.Equal("pipeline", history[1].GetProperty("to").GetString());
        Assert.Equal("escalation_keyword", history[1].GetProperty("reason").GetString());
        Assert.Contains(session.GetProperty("trace").EnumerateArray(), t => t.GetProperty("kind").GetString() == "escalation" && t.GetProperty("detail").GetString() == "keyword:real person");
    }

    [Fact]
    public async Task Keywords_match_whole_words_only()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);

        Assert.Empty(await _calls.SayAsync(id, "That is inhuman pricing."));
        Assert.Equal("voice_to_voice", (await _calls.GetSessionAsync(id)).GetProperty("mode").GetString());
    }

    [Fact]
    public async Task A_dtmf_digit_escalates_and_other_digits_are_only_recorded()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);

        Assert.Empty(await _calls.PressAsync(id, "5"));
        var actions = await _calls.PressAsync(id, "0");

        Assert.Equal(["configure_transcription", "speak"], actions.Select(a => a.Type)); // the transfer follows the line
        var session = await _calls.GetSessionAsync(id);
        Assert.Equal("escalation_dtmf", session.GetProperty("mode_history")[1].GetProperty("reason").GetString());
        Assert.Equal(["5", "0"], session.GetProperty("trace").EnumerateArray().Where(t => t.GetProperty("kind").GetString() == "dtmf").Select(t => t.GetProperty("digit").GetString()));
    }

    [Fact]
    public async Task Without_a_transfer_target_an_escalation_speaks_and_hangs_up()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id, to: TestPersonas.GermanNumber);

        var actions = await _calls.SayAsync(id, "Ich will einen Mitarbeiter!");
        var afterLine = await _calls.SendAsync(CallClient.Event("assistant_speech_ended", id));

        Assert.Collection(
            actions,
            a => Assert.IsType<ConfigureTranscriptionAction>(a),
            a => Assert.Equal("Leider ist niemand erreichbar.", Assert.IsType<SpeakAction>(a).Text));
        Assert.IsType<HangupAction>(Assert.Single(afterLine)); // after the goodbye has been spoken
    }

    [Fact]
    public async Task A_failed_transfer_returns_the_caller_to_the_assistant()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        await _calls.PressAsync(id, "0");

        var back = await _calls.StartAsync(id);

        var v2v = Assert.IsType<ConfigureVoiceToVoiceAction>(Assert.Single(back));
        Assert.Equal(TestPersonas.DefaultPrompt, v2v.SystemPrompt);
        Assert.False(string.IsNullOrWhiteSpace(v2v.Greeting));
        var session = await _calls.GetSessionAsync(id);
        Assert.Equal(
            ["session_start", "escalation_dtmf", "transfer_failed"],
            session.GetProperty("mode_history").EnumerateArray().Select(m => m.GetProperty("reason").GetString()));
        Assert.Equal("voice_to_voice", session.GetProperty("mode").GetString());
    }

    [Fact]
    public async Task A_gated_pipeline_call_escalates_without_reconfiguring_transcription()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id, to: TestPersonas.GatedNumber);

        var actions = await _calls.PressAsync(id, "9");
        var afterLine = await _calls.SendAsync(CallClient.Event("assistant_speech_ended", id));

        Assert.Equal(["speak"], actions.Select(a => a.Type));
        Assert.Equal(["transfer"], afterLine.Select(a => a.Type));
        Assert.Single((await _calls.GetSessionAsync(id)).GetProperty("mode_history").EnumerateArray());
    }

    [Fact]
    public async Task The_whole_call_reads_back_as_a_dialogue_in_order()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        await _calls.SayAsync(id, "Hi, I need an appointment.");
        Assert.Empty(await _calls.SendAsync(CallClient.Event("assistant_speak", id, fields: new JsonObject { ["text"] = "Sure, when?", ["duration_ms"] = 1200, ["speech_started_at"] = 1764079200123 })));
        Assert.Empty(await _calls.SendAsync(CallClient.Event("assistant_speech_ended", id)));
        Assert.Empty(await _calls.SendAsync(CallClient.Event("user_input_timeout", id)));
        Assert.Empty(await _calls.SendAsync(CallClient.Event("user_barge_in", id)));
        await _calls.SayAsync(id, "Tuesday.", bargedIn: true);
        Assert.Empty(await _calls.EndAsync(id));

        var session = await _calls.GetSessionAsync(id);

        var trace = session.GetProperty("trace").EnumerateArray().ToList();
        Assert.Equal(
            ["session_start", "caller", "assistant", "assistant_speech_ended", "user_input_timeout", "barge_in", "caller", "session_end"],
            trace.Select(t => t.GetProperty("kind").GetString()));
        Assert.Equal("Sure, when?", trace[2].GetProperty("text").GetString());
        Assert.Equal(1200, trace[2].GetProperty("duration_ms").GetDouble());
        var seqs = trace.Select(t => t.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(seqs.Order(), seqs);
        Assert.Equal(2, session.GetProperty("turn_count").GetInt32());
        Assert.True(session.TryGetProperty("ended_at", out _));
        Assert.True(session.GetProperty("duration_ms").GetInt64() >= 0);
        Assert.Equal("+491701234567", session.GetProperty("from_phone_number").GetString());
        Assert.Equal("test-account", session.GetProperty("account_id").GetString());
    }

    [Fact]
    public async Task Session_end_is_always_answered_204_even_for_an_unknown_session()
    {
        var id = CallClient.NewSessionId();

        using var response = await _calls.PostAsync(CallClient.Event("session_end", id, fields: new JsonObject { ["reason"] = "caller_hangup" }));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var session = await _calls.GetSessionAsync(id);
        Assert.Equal("caller_hangup", session.GetProperty("end_reason").GetString());
    }

    [Fact]
    public async Task An_event_for_a_session_never_started_here_is_kept_not_dropped()
    {
        var id = CallClient.NewSessionId();

        Assert.Empty(await _calls.SayAsync(id, "I was mid-call when you deployed."));

        var session = await _calls.GetSessionAsync(id);
        Assert.Equal("I was mid-call when you deployed.", session.GetProperty("trace")[0].GetProperty("text").GetString());
        Assert.Equal("assumed_without_session_start", session.GetProperty("mode_history")[0].GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Unknown_event_types_get_204_and_write_nothing()
    {
        var id = CallClient.NewSessionId();

        using var response = await _calls.PostAsync(CallClient.Event("call_recording_ready", id, fields: new JsonObject { ["url"] = "x" }));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        using var get = await _calls.GetSessionResponseAsync(id);
        await ProblemAssert.IsProblemAsync(get, 404, "urn:voicefunctions:problem:session-not-found");
    }

    [Fact]
    public async Task Concurrent_user_speak_events_for_one_session_are_all_kept_in_a_gapless_order()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        var texts = Enumerable.Range(0, 40).Select(i => $"turn {i}").ToList();

        var answers = await Task.WhenAll(texts.Select(t => _calls.SayAsync(id, t)));

        Assert.All(answers, Assert.Empty);
        // Under load some answers may go out at the deadline while recording goes on: wait for it.
        var session = await _calls.WaitForSessionAsync(id, s => s.GetProperty("turn_count").GetInt32() == 40);
        var callerTurns = session.GetProperty("trace").EnumerateArray().Where(t => t.GetProperty("kind").GetString() == "caller").ToList();
        Assert.Equal(texts.Order(), callerTurns.Select(t => t.GetProperty("text").GetString()).Order());
        var seqs = session.GetProperty("trace").EnumerateArray().Select(t => t.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i + 1), seqs); // seq 1 is the first mode change
        Assert.Equal(40, session.GetProperty("turn_count").GetInt32());
    }

    [Fact]
    public async Task Text_longer_than_a_table_property_is_stored_whole()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        var text = string.Concat(Enumerable.Repeat("Ä😀 long caller monologue. ", 4000)); // ~100 K UTF-16 units, over the 32 K per property

        Assert.Empty(await _calls.SayAsync(id, text));

        var stored = (await _calls.GetSessionAsync(id)).GetProperty("trace")[1].GetProperty("text").GetString();
        Assert.Equal(text, stored);
    }

    [Fact]
    public async Task Session_ids_differing_only_in_case_are_one_call()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id.ToUpperInvariant());
        await _calls.SayAsync(id, "lower");

        var session = await _calls.GetSessionAsync(id.ToUpperInvariant());

        Assert.Equal(id, session.GetProperty("session_id").GetString());
        Assert.Equal(2, session.GetProperty("trace").GetArrayLength());
    }

    [Theory]
    [InlineData("not-a-uuid")]
    [InlineData("550e8400e29b41d4a716446655440000x")]
    public async Task Reading_a_session_by_a_non_uuid_is_a_400(string id)
    {
        using var response = await _calls.GetSessionResponseAsync(id);

        await ProblemAssert.IsProblemAsync(response, 400, "urn:voicefunctions:problem:invalid-session-id");
    }
}
