using System.Text;

namespace VoiceFunctions.AiFlow.Tests;

public class EventParserTests
{
    public static TheoryData<string> EventFiles => Fixtures.Files("events");

    [Theory]
    [MemberData(nameof(EventFiles))]
    public void Every_documented_event_fixture_parses_to_its_type(string file)
    {
        var evt = AiFlowEventParser.Parse(Fixtures.Read("events", file));

        var expected = Fixtures.TypeFromName(file);
        if (expected == "unknown")
        {
            Assert.IsType<UnknownEvent>(evt);
        }
        else
        {
            Assert.Equal(expected, evt.Type);
            Assert.IsNotType<UnknownEvent>(evt);
        }

        Assert.Equal("550e8400-e29b-41d4-a716-446655440000", evt.Session.Id);
    }

    [Theory]
    [MemberData(nameof(EventFiles))]
    public void Every_event_fixture_survives_a_write_and_read_back(string file)
    {
        var evt = AiFlowEventParser.Parse(Fixtures.Read("events", file));

        var again = AiFlowEventParser.Parse(Encoding.UTF8.GetBytes(AiFlowJson.Serialize(evt)));

        Assert.Equal(evt, again);
    }

    [Fact]
    public void Type_may_come_last_and_unknown_fields_are_ignored()
    {
        var evt = AiFlowEventParser.Parse(Fixtures.Read("events", "session_start.type-last.json"));

        var start = Assert.IsType<SessionStartEvent>(evt);
        Assert.Equal("4921155660", start.Session.ToPhoneNumber);
        Assert.Null(start.Session.AccountId);
    }

    [Fact]
    public void User_speak_keeps_text_exactly_and_barged_in()
    {
        var speak = Assert.IsType<UserSpeakEvent>(AiFlowEventParser.Parse(Fixtures.Read("events", "user_speak.json")));

        Assert.Equal("Hallo, ich hätte gern einen Termin. 😀", speak.Text);
        Assert.False(speak.BargedIn);
    }

    [Fact]
    public void Phone_numbers_written_as_json_numbers_are_read_as_strings()
    {
        var json = """{"type":"session_start","session":{"id":"550e8400-e29b-41d4-a716-446655440000","phone_number":4921155660,"to_phone_number":4921155660}}""";

        var evt = AiFlowEventParser.Parse(Encoding.UTF8.GetBytes(json));

        Assert.Equal("4921155660", evt.Session.PhoneNumber);
        Assert.Equal("4921155660", evt.Session.CalledNumber);
    }

    [Fact]
    public void Called_number_prefers_to_phone_number_over_the_flow_number()
    {
        var session = new AiFlowSession { Id = Guid.NewGuid().ToString(), PhoneNumber = "+491", ToPhoneNumber = "+492" };
        Assert.Equal("+492", session.CalledNumber);
        Assert.Equal("+491", (session with { ToPhoneNumber = " " }).CalledNumber);
    }

    [Theory]
    [InlineData("""{"session":{"id":"550e8400-e29b-41d4-a716-446655440000"}}""", "'type' is required")]
    [InlineData("""{"type":"session_start"}""", "'session' is required")]
    [InlineData("""{"type":"session_start","session":{"id":"nope"}}""", "UUID")]
    [InlineData("""{"type":"user_speak","session":{"id":"550e8400-e29b-41d4-a716-446655440000"}}""", "'text' is required")]
    [InlineData("""{"type":"user_speak","session":{"id":"550e8400-e29b-41d4-a716-446655440000"},"text":"a","barged_in":"no"}""", "'barged_in' has the wrong JSON type")]
    [InlineData("""{"type":"assistant_speak","session":{"id":"550e8400-e29b-41d4-a716-446655440000"},"duration_ms":"long"}""", "'duration_ms' has the wrong JSON type")]
    [InlineData("""{"type":"session_start","type":"session_start","session":{"id":"550e8400-e29b-41d4-a716-446655440000"}}""", "duplicate")]
    [InlineData("""{"type":"session_start","session":{"id":"550e8400-e29b-41d4-a716-446655440000","id":"6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"}}""", "duplicate")]
    [InlineData("""[]""", "JSON object")]
    [InlineData("""{"type":"session_start",""", "not valid JSON")]
    public void Broken_events_are_rejected_with_a_reason(string json, string reason)
    {
        var ex = Assert.Throws<AiFlowParseException>(() => AiFlowEventParser.Parse(Encoding.UTF8.GetBytes(json)));

        Assert.Contains(reason, ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Parse_errors_never_echo_the_senders_values()
    {
        var json = """{"type":"session_start","session":{"id":"secret-caller-text"}}""";

        var ex = Assert.Throws<AiFlowParseException>(() => AiFlowEventParser.Parse(Encoding.UTF8.GetBytes(json)));

        Assert.DoesNotContain("secret-caller-text", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Session_ids_are_canonicalised_so_case_does_not_split_a_call()
    {
        Assert.Equal("550e8400-e29b-41d4-a716-446655440000", SessionIds.Canonical("550E8400-E29B-41D4-A716-446655440000"));
    }

    [Theory]
    [InlineData("+49 (211) 556-60", "4921155660")]
    [InlineData("4921155660", "4921155660")]
    [InlineData(null, "")]
    public void Phone_numbers_compare_by_digits(string? number, string digits) =>
        Assert.Equal(digits, PhoneNumbers.Normalize(number));
}
