using System.Text;

namespace VoiceFunctions.AiFlow.Tests;

/// <summary>
/// Issue 13: accept what the platform sends and validate exactly as strictly as the platform, because a
/// refused event or a dropped answer is a silent caller.
/// </summary>
public class ProtocolFidelityTests
{
    private const string SessionId = "550e8400-e29b-41d4-a716-446655440000";

    private static AiFlowEvent Parse(string json) => AiFlowEventParser.Parse(Encoding.UTF8.GetBytes(json));

    [Theory]
    [InlineData("1764079200123.5", 1764079200123.5)]
    [InlineData("1.7640792001235e12", 1764079200123.5)]
    [InlineData("1764079200123", 1764079200123d)]
    public void Speech_started_at_is_any_json_number(string number, double expected)
    {
        var said = Assert.IsType<AssistantSpeakEvent>(Parse($$"""{"type":"assistant_speak","session":{"id":"{{SessionId}}"},"speech_started_at":{{number}},"duration_ms":1.5e3}"""));

        Assert.Equal(expected, said.SpeechStartedAt);
        Assert.Equal(1500, said.DurationMs);
    }

    [Fact]
    public void The_fractional_fixture_keeps_its_fractions()
    {
        var said = Assert.IsType<AssistantSpeakEvent>(AiFlowEventParser.Parse(Fixtures.Read("events", "assistant_speak.fractional.json")));

        Assert.Equal(1764079200123.5, said.SpeechStartedAt);
        Assert.Equal(1830.5, said.DurationMs);
    }

    [Theory]
    [InlineData("true")]
    [InlineData("null")]
    [InlineData("""{"code":1}""")]
    [InlineData("""["a","b"]""")]
    public void An_undocumented_session_end_field_of_another_type_is_ignored_not_refused(string value)
    {
        var end = Assert.IsType<SessionEndEvent>(Parse($$"""{"type":"session_end","session":{"id":"{{SessionId}}"},"reason":{{value}},"timestamp":{{value}}}"""));

        Assert.Null(end.Reason);
        Assert.Null(end.Timestamp);
    }

    [Fact]
    public void A_numeric_session_end_reason_is_ignored_while_a_numeric_timestamp_is_kept_as_text()
    {
        var end = Assert.IsType<SessionEndEvent>(Parse($$"""{"type":"session_end","session":{"id":"{{SessionId}}"},"reason":3,"timestamp":1764079260000}"""));

        Assert.Null(end.Reason);
        Assert.Equal("1764079260000", end.Timestamp);
    }

    [Fact]
    public void Undocumented_session_end_fields_of_the_expected_type_are_read()
    {
        var asString = Assert.IsType<SessionEndEvent>(AiFlowEventParser.Parse(Fixtures.Read("events", "session_end.timestamp-string.json")));
        var asNumber = Assert.IsType<SessionEndEvent>(AiFlowEventParser.Parse(Fixtures.Read("events", "session_end.with-reason.json")));
        var odd = Assert.IsType<SessionEndEvent>(AiFlowEventParser.Parse(Fixtures.Read("events", "session_end.undocumented-field-types.json")));

        Assert.Equal(("caller_hangup", "2026-11-26T06:00:00Z"), (asString.Reason, asString.Timestamp));
        Assert.Equal(("caller_hangup", "1764079260000"), (asNumber.Reason, asNumber.Timestamp));
        Assert.Equal((null, null), (odd.Reason, odd.Timestamp));
    }

    [Fact]
    public void A_documented_field_of_the_wrong_type_is_still_refused()
    {
        var ex = Assert.Throws<AiFlowParseException>(() => Parse($$"""{"type":"assistant_speak","session":{"id":"{{SessionId}}"},"speech_started_at":"soon"}"""));

        Assert.Contains("speech_started_at", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sms_failed_carries_its_reason()
    {
        var failed = Assert.IsType<SmsFailedEvent>(AiFlowEventParser.Parse(Fixtures.Read("events", "sms_failed.json")));

        Assert.Equal("recipient_unreachable", failed.Reason);
        Assert.Equal(EventTypes.SmsFailed, failed.Type);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("de-DE", null)]
    [InlineData(null, "de-DE-KatjaNeural")]
    public void Azure_tts_needs_neither_language_nor_voice(string? language, string? voice)
    {
        var check = ActionValidator.Check(new SpeakAction { SessionId = SessionId, Text = "a", Tts = new TtsSettings { Provider = "azure", Language = language, Voice = voice } });

        Assert.True(check.IsValid, string.Join(" ", check.Errors));
        Assert.Empty(check.Warnings);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("21m00Tcm4TlvDq8ikWAM")]
    public void Eleven_labs_voice_is_an_optional_voice_id(string? voice) =>
        Assert.Empty(ActionValidator.Check(new SpeakAction { SessionId = SessionId, Text = "a", Tts = new TtsSettings { Provider = "eleven_labs", Voice = voice } }).Errors);

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(100)]
    [InlineData(60_000)]
    public void An_invalid_vad_is_a_warning_not_a_reason_to_drop_the_answer(int ms)
    {
        var vad = new VadSettings { EndOfTurnSilenceMs = ms };

        var speak = ActionValidator.Check(new SpeakAction { SessionId = SessionId, Text = "a", Vad = vad });
        var transcription = ActionValidator.Check(new ConfigureTranscriptionAction { SessionId = SessionId, Provider = "AZURE", Vad = vad });

        Assert.Empty(speak.Errors);
        Assert.Empty(transcription.Errors);
        Assert.Contains(speak.Warnings, w => w.Contains("end_of_turn_silence_ms", StringComparison.Ordinal));
        Assert.Contains(transcription.Warnings, w => w.Contains("end_of_turn_silence_ms", StringComparison.Ordinal));
        Assert.Empty(ActionValidator.Validate(new SpeakAction { SessionId = SessionId, Text = "a", Vad = vad }));
    }

    [Theory]
    [InlineData(150)]
    [InlineData(2000)]
    public void The_recommended_vad_bounds_are_inclusive(int ms) =>
        Assert.Empty(ActionValidator.Check(new SpeakAction { SessionId = SessionId, Text = "a", Vad = new VadSettings { EndOfTurnSilenceMs = ms } }).Warnings);

    [Theory]
    [InlineData(0, false)]     // 0 = no timeout (what sipgate's n8n node means by leaving it out)
    [InlineData(0.5, false)]   // fractions are numbers too
    [InlineData(8, false)]
    [InlineData(-1, true)]     // not documented: sent, and logged
    public void User_input_timeout_zero_means_none_and_only_a_non_number_is_an_error(double seconds, bool warns)
    {
        var check = ActionValidator.Check(new SpeakAction { SessionId = SessionId, Text = "a", UserInputTimeoutSeconds = seconds });

        Assert.Empty(check.Errors);
        Assert.Equal(warns, check.Warnings.Count > 0);
    }

    [Fact]
    public void A_field_less_configure_transcription_is_sent_but_warned_about_as_a_no_op()
    {
        var check = ActionValidator.Check(new ConfigureTranscriptionAction { SessionId = SessionId });

        Assert.True(check.IsValid);
        Assert.Contains(check.Warnings, w => w.Contains("no-op", StringComparison.Ordinal));
    }

    [Fact]
    public void Mix_audio_stop_needs_no_audio_and_volume_bounds_are_inclusive()
    {
        Assert.Empty(ActionValidator.Validate(new MixAudioAction { SessionId = SessionId, Stop = true }));
        Assert.Empty(ActionValidator.Validate(new MixAudioAction { SessionId = SessionId, Audio = "UklGRg==", Volume = 0.0 }));
        Assert.Empty(ActionValidator.Validate(new MixAudioAction { SessionId = SessionId, Audio = "UklGRg==", Volume = 1.0 }));
    }

    [Theory]
    [InlineData("+4915112345678")]
    [InlineData("4915112345678")]
    public void Send_sms_accepts_e164_with_or_without_plus(string number) =>
        Assert.Empty(ActionValidator.Validate(new SendSmsAction { SessionId = SessionId, PhoneNumber = number, Message = "m" }));

    [Fact]
    public void New_actions_are_written_with_their_wire_names()
    {
        var json = Encoding.UTF8.GetString(AiFlowJson.Serialize(
        [
            new MixAudioAction { SessionId = SessionId, Stop = true },
            new SendSmsAction { SessionId = SessionId, PhoneNumber = "4915112345678", Message = "Hi" },
        ]));

        Assert.Equal(
            $$"""[{"type":"mix_audio","session_id":"{{SessionId}}","stop":true},{"type":"send_sms","session_id":"{{SessionId}}","phone_number":"4915112345678","message":"Hi"}]""",
            json);
    }
}
