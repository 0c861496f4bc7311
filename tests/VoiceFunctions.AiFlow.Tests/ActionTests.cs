namespace VoiceFunctions.AiFlow.Tests;

public class ActionTests
{
    private const string SessionId = "550e8400-e29b-41d4-a716-446655440000";

    public static TheoryData<string> ActionFiles => Fixtures.Files("actions");

    [Theory]
    [MemberData(nameof(ActionFiles))]
    public void Every_documented_action_fixture_reads_validates_and_writes_back_equal(string file)
    {
        var actions = AiFlowJson.Deserialize(Fixtures.Read("actions", file));

        var action = Assert.Single(actions);
        Assert.Equal(Fixtures.TypeFromName(file), action.Type);
        var check = ActionValidator.Check(action);
        Assert.Empty(check.Errors);
        Assert.Empty(check.Warnings); // a documented shape is sent without a second thought
        // Records hold lists by reference, so equality is judged on the wire form.
        var written = AiFlowJson.Serialize(actions);
        Assert.Equal(written, AiFlowJson.Serialize(AiFlowJson.Deserialize(written)));
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(
            System.Text.Json.Nodes.JsonNode.Parse(Fixtures.Read("actions", file)),
            System.Text.Json.Nodes.JsonNode.Parse(written)![0]), "the written action differs from the documented shape");
    }

    [Fact]
    public void An_answer_is_a_json_array_with_type_first()
    {
        var json = System.Text.Encoding.UTF8.GetString(AiFlowJson.Serialize([new HangupAction { SessionId = SessionId }]));

        Assert.Equal($$"""[{"type":"hangup","session_id":"{{SessionId}}"}]""", json);
    }

    [Fact]
    public void Optional_fields_are_left_out_not_sent_as_null()
    {
        var json = System.Text.Encoding.UTF8.GetString(AiFlowJson.Serialize([new ConfigureVoiceToVoiceAction { SessionId = SessionId, SystemPrompt = "p" }]));

        Assert.DoesNotContain("null", json, StringComparison.Ordinal);
        Assert.DoesNotContain("greeting", json, StringComparison.Ordinal);
    }

    public static TheoryData<AiFlowAction, string> InvalidActions => new()
    {
        { new ConfigureVoiceToVoiceAction { SessionId = SessionId, SystemPrompt = " " }, "system_prompt" },
        { new ConfigureVoiceToVoiceAction { SessionId = SessionId, SystemPrompt = "p", Temperature = 2.5 }, "temperature" },
        { new ConfigureVoiceToVoiceAction { SessionId = SessionId, SystemPrompt = "p", Temperature = double.NaN }, "temperature" },
        { new ConfigureVoiceToVoiceAction { SessionId = "not-a-uuid", SystemPrompt = "p" }, "session_id" },
        { new ConfigureTranscriptionAction { SessionId = SessionId, Provider = "GOOGLE" }, "provider" },
        { new ConfigureTranscriptionAction { SessionId = SessionId, Languages = ["de-DE", "en-US", "fr-FR", "it-IT", "es-ES"] }, "languages" },
        { new ConfigureTranscriptionAction { SessionId = SessionId, Languages = [] }, "languages" },
        { new ConfigureTranscriptionAction { SessionId = SessionId, CustomVocabulary = [new string('x', 201)] }, "custom_vocabulary" },
        { new SpeakAction { SessionId = SessionId }, "exactly one" },
        { new SpeakAction { SessionId = SessionId, Text = "a", Ssml = "<speak/>" }, "exactly one" },
        { new SpeakAction { SessionId = SessionId, Text = "a", Tts = new TtsSettings { Provider = "google" } }, "tts.provider" },
        { new SpeakAction { SessionId = SessionId, Text = "a", UserInputTimeoutSeconds = double.NaN }, "user_input_timeout_seconds" },
        { new MixAudioAction { SessionId = SessionId }, "audio" },
        { new MixAudioAction { SessionId = SessionId, Audio = "not base64!" }, "audio" },
        { new MixAudioAction { SessionId = SessionId, Stop = false }, "audio" },
        { new MixAudioAction { SessionId = SessionId, Stop = true, Volume = 1.5 }, "volume" },
        { new MixAudioAction { SessionId = SessionId, Audio = "UklGRg==", Volume = -0.1 }, "volume" },
        { new SendSmsAction { SessionId = SessionId, PhoneNumber = "", Message = "m" }, "phone_number" },
        { new SendSmsAction { SessionId = SessionId, PhoneNumber = "+49 151 1234", Message = "m" }, "phone_number" },
        { new SendSmsAction { SessionId = SessionId, PhoneNumber = "4915112345678", Message = " " }, "message" },
        { new SpeakAction { SessionId = SessionId, Text = "a", BargeIn = new BargeInSettings { Strategy = "sometimes" } }, "strategy" },
        { new SpeakAction { SessionId = SessionId, Text = "a", BargeIn = new BargeInSettings { Strategy = "minimum_characters", MinimumCharacters = 0 } }, "minimum_characters" },
        { new SpeakAction { SessionId = SessionId, Text = "a", BargeIn = new BargeInSettings { Strategy = "manual", AllowAfterMs = 10_001 } }, "allow_after_ms" },
        { new AudioAction { SessionId = SessionId, Audio = "not base64!" }, "base64" },
        { new TransferAction { SessionId = SessionId, TargetPhoneNumber = "+49", CallerIdName = "", CallerIdNumber = "+49" }, "caller_id_name" },
        { new TransferAction { SessionId = SessionId, TargetPhoneNumber = "+49", CallerIdName = "a", CallerIdNumber = "+49", Timeout = 4 }, "timeout" },
        { new TransferAction { SessionId = SessionId, TargetPhoneNumber = "+49", CallerIdName = "a", CallerIdNumber = "+49", Timeout = 121 }, "timeout" },
    };

    [Theory]
    [MemberData(nameof(InvalidActions))]
    public void Invalid_actions_are_caught_before_they_are_sent(AiFlowAction action, string problem)
    {
        var errors = ActionValidator.Validate(action);

        Assert.Contains(errors, e => e.Contains(problem, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(2.0)]
    public void Temperature_bounds_are_inclusive(double temperature) =>
        Assert.Empty(ActionValidator.Validate(new ConfigureVoiceToVoiceAction { SessionId = SessionId, SystemPrompt = "p", Temperature = temperature }));
}
