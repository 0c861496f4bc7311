using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// The test personas plus one that configures nothing of the pipeline but its language, vocabulary and vad, and a
/// gated persona whose vad is outside the documented recommendation (the platform ignores such a value, so the
/// answer must still go out).
/// </summary>
public sealed class HandoffApp(Azurite azurite) : IAsyncDisposable
{
    public const string PlainNumber = "+4940111222";
    public const string PlainTarget = "+4940999";

    public static IReadOnlyDictionary<string, string?> Overrides { get; } = new Dictionary<string, string?>
    {
        ["Personas:plain:PhoneNumbers:0"] = PlainNumber,
        ["Personas:plain:SystemPrompt"] = "Du bist schlicht.",
        ["Personas:plain:Language"] = "de",
        ["Personas:plain:Pipeline:CustomVocabulary:0"] = "sipgate",
        ["Personas:plain:Pipeline:CustomVocabulary:1"] = "VoiceFunctions",
        ["Personas:plain:Pipeline:Vad:EndOfTurnSilenceMs"] = "700",
        ["Personas:plain:Escalation:DtmfDigits"] = "0",
        ["Personas:plain:Escalation:TransferTarget"] = PlainTarget,
        ["Personas:gated:Pipeline:CustomVocabulary:0"] = "Termin",
        ["Personas:gated:Pipeline:Vad:EndOfTurnSilenceMs"] = "60000",
    };

    private readonly WebhookApp _app = new(azurite, Overrides);

    public Azurite Azurite => azurite;

    public CallClient Calls() => _app.Calls();

    public async ValueTask DisposeAsync() => await _app.DisposeAsync().ConfigureAwait(false);
}

/// <summary>
/// Issue 13, the hand-off: back to the pipeline with a real configuration, the line protected from barge-in,
/// and the transfer or hang-up only after the line has been spoken (kept pending on the session row, so any
/// instance can complete it) — over real HTTP against real Azurite.
/// </summary>
public sealed class HandoffTests(HandoffApp app) : IClassFixture<HandoffApp>
{
    private readonly CallClient _calls = app.Calls();

    private static Task<IReadOnlyList<AiFlowAction>> SpeechEndedAsync(CallClient calls, string id) => calls.SendAsync(CallClient.Event("assistant_speech_ended", id));

    private static List<JsonElement> Trace(JsonElement session) => [.. session.GetProperty("trace").EnumerateArray()];

    private static IEnumerable<string?> Kinds(JsonElement session) => Trace(session).Select(t => t.GetProperty("kind").GetString());

    private static void AssertProtectedLine(AiFlowAction action, string text)
    {
        var speak = Assert.IsType<SpeakAction>(action);
        Assert.Equal(text, speak.Text);
        Assert.Equal("none", speak.BargeIn?.Strategy);
    }

    [Fact]
    public async Task An_escalation_switches_back_speaks_a_protected_line_and_transfers_when_it_has_been_spoken()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);

        var escalation = await _calls.SayAsync(id, "A real person, please.");

        Assert.Collection(
            escalation,
            a =>
            {
                var t = Assert.IsType<ConfigureTranscriptionAction>(a);
                Assert.Equal("AZURE", t.Provider);
                Assert.Equal(["en-US"], t.Languages!);
            },
            a => AssertProtectedLine(a, "Connecting you now."));

        // The line starts playing: not yet.
        Assert.Empty(await _calls.SendAsync(CallClient.Event("assistant_speak", id, fields: new JsonObject { ["text"] = "Connecting you now.", ["duration_ms"] = 900.5, ["speech_started_at"] = 1764079200123.25 })));

        var transfer = Assert.IsType<TransferAction>(Assert.Single(await SpeechEndedAsync(_calls, id)));
        Assert.Equal(TestPersonas.TransferTarget, transfer.TargetPhoneNumber);
        Assert.Equal("Test Desk", transfer.CallerIdName);
        Assert.Equal("+4921100000001", transfer.CallerIdNumber); // the flow's own number, never a made-up literal
        Assert.Equal(30, transfer.Timeout);

        // Delivered once: a later event that would have delivered it gets nothing. (A byte-identical repeat of the
        // same event within Calls:DuplicateWindow is a redelivery and gets the same answer again: see DuplicateDeliveryTests.)
        Assert.Empty(await _calls.SendAsync(CallClient.Event("user_input_timeout", id)));
        var session = await _calls.GetSessionAsync(id);
        var delivered = Assert.Single(Trace(session), t => t.GetProperty("kind").GetString() == "pending_delivered");
        Assert.Equal("handoff:transfer", delivered.GetProperty("detail").GetString());
        Assert.Equal(
            ["session_start", "caller", "escalation", "assistant", "assistant_speech_ended", "pending_delivered", "user_input_timeout"],
            Kinds(session));
    }

    [Fact]
    public async Task Without_an_agent_the_goodbye_is_protected_and_the_hangup_follows_it()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id, to: TestPersonas.GermanNumber);

        var escalation = await _calls.SayAsync(id, "Ich will einen Mitarbeiter!");

        Assert.Collection(
            escalation,
            a =>
            {
                var t = Assert.IsType<ConfigureTranscriptionAction>(a);
                Assert.Equal("AZURE", t.Provider);
                Assert.Equal(["de-DE"], t.Languages!);
            },
            a => AssertProtectedLine(a, "Leider ist niemand erreichbar."));
        Assert.IsType<HangupAction>(Assert.Single(await SpeechEndedAsync(_calls, id)));
    }

    [Theory]
    [InlineData("user_speak")]
    [InlineData("dtmf_received")]
    [InlineData("user_input_timeout")]
    public async Task The_caller_moving_before_the_line_ends_still_gets_the_transfer(string type)
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        Assert.Equal(2, (await _calls.PressAsync(id, "0")).Count);

        var fields = type switch
        {
            "user_speak" => new JsonObject { ["text"] = "Hello? Are you still there?", ["barged_in"] = true },
            "dtmf_received" => new JsonObject { ["digit"] = "5" },
            _ => null,
        };
        var answer = await _calls.SendAsync(CallClient.Event(type, id, fields: fields));

        Assert.IsType<TransferAction>(Assert.Single(answer));
        Assert.Empty(await SpeechEndedAsync(_calls, id)); // not a second time
    }

    [Fact]
    public async Task Asking_again_while_the_hand_off_is_pending_does_not_escalate_twice()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        await _calls.SayAsync(id, "human");

        var again = await _calls.SayAsync(id, "HUMAN! I said a human!");
        var pressed = await _calls.PressAsync(id, "0");

        Assert.IsType<TransferAction>(Assert.Single(again)); // the pending transfer, not a second hand-off
        Assert.Empty(pressed);
        var session = await _calls.GetSessionAsync(id);
        Assert.Single(Trace(session), t => t.GetProperty("kind").GetString() == "escalation");
        Assert.Equal(2, session.GetProperty("mode_history").GetArrayLength());
    }

    [Fact]
    public async Task A_second_instance_completes_the_pending_transfer_and_the_first_does_not_repeat_it()
    {
        await using var other = new WebhookApp(app.Azurite, HandoffApp.Overrides);
        using var second = other.Calls();
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        Assert.Equal(["configure_transcription", "speak"], (await _calls.SayAsync(id, "a real person")).Select(a => a.Type));

        var completed = await SpeechEndedAsync(second, id); // this instance never saw the call

        Assert.IsType<TransferAction>(Assert.Single(completed));
        Assert.Empty(await _calls.SayAsync(id, "hello?")); // the first instance's cached state is stale: the stored row wins
        var session = await _calls.GetSessionAsync(id);
        Assert.Single(Trace(session), t => t.GetProperty("kind").GetString() == "pending_delivered");
    }

    [Fact]
    public async Task Events_after_session_end_are_recorded_but_never_answered()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        Assert.Empty(await _calls.EndAsync(id));

        Assert.Empty(await _calls.SayAsync(id, "a real person"));
        Assert.Empty(await _calls.PressAsync(id, "0"));
        Assert.Empty(await _calls.StartAsync(id));
        Assert.Empty(await SpeechEndedAsync(_calls, id));

        var session = await _calls.GetSessionAsync(id);
        Assert.Equal(["session_start", "session_end", "caller", "dtmf", "session_resumed", "assistant_speech_ended"], Kinds(session));
        Assert.Equal("voice_to_voice", session.GetProperty("mode").GetString());
        Assert.False(session.GetProperty("escalated").GetBoolean());
    }

    [Fact]
    public async Task An_event_after_session_end_arriving_while_storage_is_down_gets_no_actions_either()
    {
        // Its own Azurite, stopped after the end: the instance must know from memory that the call is over,
        // not take the event for a new call (which would escalate on "a real person").
        var storage = new Azurite();
        await storage.InitializeAsync();
        try
        {
            await using var isolated = new WebhookApp(storage, HandoffApp.Overrides);
            using var calls = isolated.Calls();
            var id = CallClient.NewSessionId();
            await calls.StartAsync(id);
            await calls.EndAsync(id);
            await storage.StopAsync();

            Assert.Empty(await calls.SayAsync(id, "a real person"));
            Assert.Empty(await calls.PressAsync(id, "0"));
        }
        finally
        {
            await storage.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_call_ending_during_the_hand_off_line_drops_the_pending_transfer()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        await _calls.PressAsync(id, "0");

        Assert.Empty(await _calls.EndAsync(id));
        Assert.Empty(await SpeechEndedAsync(_calls, id));

        var dropped = Assert.Single(Trace(await _calls.GetSessionAsync(id)), t => t.GetProperty("kind").GetString() == "pending_dropped");
        Assert.Equal("handoff:session_end", dropped.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_failed_transfer_returns_the_caller_and_a_new_escalation_works_again()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        await _calls.PressAsync(id, "0");
        Assert.IsType<TransferAction>(Assert.Single(await SpeechEndedAsync(_calls, id)));

        Assert.IsType<ConfigureVoiceToVoiceAction>(Assert.Single(await _calls.StartAsync(id))); // the transfer failed
        Assert.Equal(["configure_transcription", "speak"], (await _calls.PressAsync(id, "0")).Select(a => a.Type));
        Assert.IsType<TransferAction>(Assert.Single(await SpeechEndedAsync(_calls, id)));
    }

    [Fact]
    public async Task The_switch_back_carries_language_defaults_vocabulary_and_vad_and_the_flow_number_as_caller_id()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id, to: HandoffApp.PlainNumber);

        var escalation = await _calls.PressAsync(id, "0");

        var t = Assert.IsType<ConfigureTranscriptionAction>(escalation[0]);
        Assert.Equal("AZURE", t.Provider); // no provider configured: the default
        Assert.Equal(["de-DE"], t.Languages!); // from Language = de
        Assert.Equal(["sipgate", "VoiceFunctions"], t.CustomVocabulary!);
        Assert.Equal(700, t.Vad?.EndOfTurnSilenceMs);
        var transfer = Assert.IsType<TransferAction>(Assert.Single(await SpeechEndedAsync(_calls, id)));
        Assert.Equal(HandoffApp.PlainNumber, transfer.CallerIdNumber); // the dialled number, not the caller's
        Assert.Equal("plain", transfer.CallerIdName);
    }

    [Fact]
    public async Task A_pipeline_call_gets_its_vocabulary_and_a_vad_the_platform_may_ignore_is_still_sent()
    {
        var id = CallClient.NewSessionId();

        using var response = await _calls.PostAsync(CallClient.Event("session_start", id, TestPersonas.GatedNumber));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // not dropped to a 204 over the vad
        var t = Assert.IsType<ConfigureTranscriptionAction>((await CallClient.ActionsAsync(response))[0]);
        Assert.Equal(["Termin"], t.CustomVocabulary!);
        Assert.Equal(60000, t.Vad?.EndOfTurnSilenceMs);
        Assert.NotEmpty(ActionValidator.Check(t).Warnings);
    }

    [Fact]
    public async Task A_gated_pipeline_call_escalates_with_a_protected_line_and_no_reconfiguration()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id, to: TestPersonas.GatedNumber);

        var escalation = await _calls.PressAsync(id, "9");

        AssertProtectedLine(Assert.Single(escalation), "One moment please, I am connecting you with a colleague.");
        Assert.Equal("+4930999", Assert.IsType<TransferAction>(Assert.Single(await SpeechEndedAsync(_calls, id))).TargetPhoneNumber);
    }
}
