using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Calls;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>Issue 13 over HTTP: what the platform may send is accepted, and recorded.</summary>
public sealed class ProtocolFidelityWebhookTests(DefaultApp app) : IClassFixture<DefaultApp>
{
    private readonly CallClient _calls = app.Calls();

    [Theory]
    [InlineData(1764079200123.5, 1830.25)]
    [InlineData(1.7640792001235e12, 1.5e3)]
    public async Task Fractional_and_exponent_numbers_in_assistant_speak_are_accepted(double startedAt, double duration)
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);

        using var response = await _calls.PostAsync(CallClient.Event("assistant_speak", id, fields: new JsonObject { ["text"] = "Gern.", ["speech_started_at"] = startedAt, ["duration_ms"] = duration }));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var said = (await _calls.GetSessionAsync(id)).GetProperty("trace")[1];
        Assert.Equal(duration, said.GetProperty("duration_ms").GetDouble());
    }

    [Theory]
    [InlineData("3", null)]
    [InlineData("""{"code":"hangup"}""", null)]
    [InlineData("\"caller_hangup\"", "caller_hangup")]
    public async Task An_odd_session_end_reason_is_answered_204_and_the_end_recorded(string reasonJson, string? stored)
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);
        var end = CallClient.Event("session_end", id, fields: new JsonObject { ["reason"] = JsonNode.Parse(reasonJson), ["timestamp"] = new JsonArray(1, 2) });

        using var response = await _calls.PostAsync(end);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var session = await _calls.GetSessionAsync(id);
        Assert.True(session.TryGetProperty("ended_at", out _));
        Assert.Equal(stored, session.TryGetProperty("end_reason", out var reason) ? reason.GetString() : null);
    }

    [Fact]
    public async Task Sms_failed_is_recorded_in_the_call_trace_with_its_reason()
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);

        Assert.Empty(await _calls.SendAsync(CallClient.Event("sms_failed", id, fields: new JsonObject { ["reason"] = "recipient_unreachable" })));

        var row = (await _calls.GetSessionAsync(id)).GetProperty("trace")[1];
        Assert.Equal("sms_failed", row.GetProperty("kind").GetString());
        Assert.Equal("recipient_unreachable", row.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_non_uuid_session_id_is_still_refused_because_storage_keys_depend_on_it()
    {
        using var response = await _calls.PostRawAsync("""{"type":"session_start","session":{"id":"call-1"}}""", "application/json");

        await ProblemAssert.IsProblemAsync(response, 400, "urn:voicefunctions:problem:invalid-event", "UUID");
    }
}

/// <summary>The pieces of issue 13 that need no HTTP: start-up validation, the pending-actions rules, the spool.</summary>
public sealed class ProtocolFidelityUnitTests
{
    private static PersonaOptions Personas(Action<Persona> configure)
    {
        var persona = new Persona { SystemPrompt = "p", Language = "en" };
        configure(persona);
        return new PersonaOptions { [PersonaOptions.DefaultName] = persona };
    }

    private static ValidateOptionsResult Validate(Action<Persona> configure) =>
        new PersonaValidation(NullLogger<PersonaValidation>.Instance).Validate(null, Personas(configure));

    [Fact]
    public void Start_up_refuses_more_than_100_vocabulary_entries()
    {
        var result = Validate(p => p.Pipeline.CustomVocabulary = [.. Enumerable.Range(0, 101).Select(i => $"word{i}")]);

        Assert.True(result.Failed);
        Assert.Contains("custom_vocabulary", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Start_up_refuses_a_vocabulary_entry_over_200_characters()
    {
        Assert.True(Validate(p => p.Pipeline.CustomVocabulary = [new string('x', 201)]).Failed);
        Assert.True(Validate(p => p.Pipeline.CustomVocabulary = [.. Enumerable.Repeat(new string('x', 200), 100)]).Succeeded);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(-100, false)]
    [InlineData(60_000, true)] // outside the recommendation: logged, not refused (the platform ignores it)
    [InlineData(150, true)]
    [InlineData(2000, true)]
    public void Start_up_refuses_a_vad_that_cannot_be_a_duration(int ms, bool starts)
    {
        var result = Validate(p => p.Pipeline.Vad.EndOfTurnSilenceMs = ms);

        Assert.Equal(starts, result.Succeeded);
        if (!starts)
        {
            Assert.Contains("Pipeline:Vad:EndOfTurnSilenceMs", result.FailureMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_language_without_a_known_region_starts_and_leaves_detection_to_the_provider()
    {
        Assert.True(Validate(p => p.Language = "xx").Succeeded);
        Assert.Null(PipelineDefaults.LanguagesOf(new Persona { Language = "xx" }));
    }

    [Theory]
    [InlineData("en", "en-US")]
    [InlineData("de", "de-DE")]
    [InlineData("de-AT", "de-AT")]
    public void Pipeline_languages_default_from_the_persona_language(string language, string tag)
    {
        var persona = new Persona { Language = language };

        Assert.Equal([tag], PipelineDefaults.LanguagesOf(persona)!);
        Assert.Equal("AZURE", PipelineDefaults.ProviderOf(persona));
        Assert.Null(PipelineDefaults.LanguagesOf(new Persona()));
    }

    [Theory]
    [InlineData("inbound", "+4921100000001", "+491701234567", "+4921155660", "+4921155660")]
    [InlineData("inbound", "+4921100000001", "+491701234567", null, "+4921100000001")]
    [InlineData("outbound", "+4921100000001", "+4921100000002", "+491701234567", "+4921100000001")]
    [InlineData("outbound", null, "+4921100000002", "+491701234567", "+4921100000002")]
    [InlineData(null, null, "+491701234567", null, null)]
    public void The_caller_id_falls_back_to_the_flow_number(string? direction, string? phone, string? from, string? to, string? expected)
    {
        var state = new SessionState
        {
            SessionId = Guid.NewGuid().ToString(), Persona = "default", Mode = SessionModes.Pipeline, StartedAt = DateTimeOffset.UnixEpoch,
            Direction = direction, PhoneNumber = phone, FromPhoneNumber = from, ToPhoneNumber = to,
        };

        Assert.Equal(expected, CallFlow.FlowNumber(state));
    }

    private static readonly DateTimeOffset Now = new(2026, 11, 26, 6, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(EventTypes.AssistantSpeechEnded, PendingOutcome.Deliver)]
    [InlineData(EventTypes.UserSpeak, PendingOutcome.Deliver)]
    [InlineData(EventTypes.DtmfReceived, PendingOutcome.Deliver)]
    [InlineData(EventTypes.AssistantSpeak, PendingOutcome.Keep)]
    [InlineData(EventTypes.SmsFailed, PendingOutcome.Keep)]
    [InlineData(EventTypes.SessionEnd, PendingOutcome.Drop)]
    [InlineData(EventTypes.SessionStart, PendingOutcome.Drop)]
    public void A_pending_hand_off_is_delivered_on_the_next_move_of_the_call(string eventType, PendingOutcome outcome)
    {
        var pending = PendingActions.Handoff([new HangupAction { SessionId = Guid.NewGuid().ToString() }], Now);

        Assert.Equal(outcome, pending.On(eventType, Now.AddHours(1)));
    }

    [Theory]
    [InlineData(EventTypes.AssistantSpeechEnded, 1, PendingOutcome.Deliver)]
    [InlineData(EventTypes.UserInputTimeout, 1, PendingOutcome.Deliver)]
    [InlineData(EventTypes.UserSpeak, 1, PendingOutcome.Drop)]
    [InlineData(EventTypes.UserBargeIn, 1, PendingOutcome.Drop)]
    [InlineData(EventTypes.AssistantSpeak, 1, PendingOutcome.Keep)]
    [InlineData(EventTypes.AssistantSpeechEnded, 31, PendingOutcome.Expired)]
    public void A_late_model_reply_waits_for_a_quiet_moment_and_is_dropped_when_overtaken(string eventType, int secondsLater, PendingOutcome outcome)
    {
        var pending = PendingActions.Reply([new SpeakAction { SessionId = Guid.NewGuid().ToString(), Text = "late" }], Now, TimeSpan.FromSeconds(30));

        Assert.Equal(outcome, pending.On(eventType, Now.AddSeconds(secondsLater)));
    }

    private static CallFlow Flow() => new(new PersonaCatalog(Options.Create(new PersonaOptions { [PersonaOptions.DefaultName] = new Persona { SystemPrompt = "p" } })));

    private static SessionState WithPendingReply(string id) => new()
    {
        SessionId = id, Persona = "default", Mode = SessionModes.Pipeline, StartedAt = Now, LastSeq = 3,
        Pending = PendingActions.Reply([new SpeakAction { SessionId = id, Text = "The late answer." }], Now, TimeSpan.FromSeconds(30)),
    };

    private static AiFlowEvent Event(string json, string id) =>
        AiFlowEventParser.Parse(System.Text.Encoding.UTF8.GetBytes(json.Replace("ID", id, StringComparison.Ordinal)));

    [Fact]
    public void The_call_flow_delivers_a_late_reply_with_the_next_quiet_moment_through_the_same_mechanism()
    {
        var id = Guid.NewGuid().ToString();

        var step = Flow().Decide(WithPendingReply(id), Event("""{"type":"assistant_speech_ended","session":{"id":"ID"}}""", id), Now.AddSeconds(2));

        Assert.Equal("The late answer.", Assert.IsType<SpeakAction>(Assert.Single(step.Actions)).Text);
        Assert.Null(step.Next!.Pending);
        Assert.Equal(["assistant_speech_ended", "pending_delivered"], step.Trace.Select(t => t.Kind));
        Assert.Equal("reply:speak", step.Trace[1].Detail);
    }

    [Fact]
    public void The_call_flow_drops_a_late_reply_overtaken_by_a_newer_caller_turn()
    {
        var id = Guid.NewGuid().ToString();

        var step = Flow().Decide(WithPendingReply(id), Event("""{"type":"user_speak","session":{"id":"ID"},"text":"hello?"}""", id), Now.AddSeconds(2));

        Assert.Empty(step.Actions);
        Assert.Null(step.Next!.Pending);
        Assert.Equal("reply:user_speak", Assert.Single(step.Trace, t => t.Kind == "pending_dropped").Detail);
    }

    [Fact]
    public void The_call_flow_keeps_pending_actions_across_events_that_neither_deliver_nor_drop_them()
    {
        var id = Guid.NewGuid().ToString();
        var state = WithPendingReply(id);

        var step = Flow().Decide(state, Event("""{"type":"assistant_speak","session":{"id":"ID"},"text":"…"}""", id), Now.AddSeconds(1));

        Assert.Empty(step.Actions);
        Assert.Same(state.Pending, step.Next!.Pending);
    }

    [Fact]
    public void Pending_actions_survive_the_session_row_and_the_spool()
    {
        var id = Guid.NewGuid().ToString();
        var pending = PendingActions.Handoff(
            [new TransferAction { SessionId = id, TargetPhoneNumber = "+49211", CallerIdName = "Desk", CallerIdNumber = "+49211000", Timeout = 30 }], Now);
        var state = new SessionState { SessionId = id, Persona = "default", Mode = SessionModes.Pipeline, StartedAt = Now, Escalated = true, Pending = pending };

        var fromRow = SessionTable.ToSession(SessionTable.ToEntity(state)).Pending;
        var folder = Path.Combine(Path.GetTempPath(), "vf-pending-spool-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var spool = new SessionSpool(Options.Create(new SpoolOptions { Path = folder }), Microsoft.Extensions.Logging.Abstractions.NullLogger<SessionSpool>.Instance);
            spool.Append(new SpooledStep { SessionId = id, BaseKnown = true, Session = state, Trace = [], ModeChanges = [] });
            var fromSpool = spool.Latest(id)!.Session.Pending;

            foreach (var read in new[] { fromRow, fromSpool })
            {
                Assert.NotNull(read);
                Assert.Equal(PendingPurposes.Handoff, read.Purpose);
                Assert.Equal(pending.DeliverOn, read.DeliverOn);
                Assert.Equal(pending.DropOn, read.DropOn);
                Assert.Equal(pending.CreatedAt, read.CreatedAt);
                Assert.Equal(pending.Actions, read.Actions);
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
