using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace VoiceFunctions.AiFlow.Tests;

/// <summary>
/// Properties of the protocol library: whatever the serializer writes the parser reads back equal, and no
/// input whatsoever makes the parser throw anything but its own <see cref="AiFlowParseException"/>.
/// </summary>
public class ParserProperties
{
    private static readonly byte[] ValidEvent = Encoding.UTF8.GetBytes(
        """{"type":"user_speak","session":{"id":"550e8400-e29b-41d4-a716-446655440000","phone_number":"+4921155660"},"text":"Hallo 😀","barged_in":true}""");

    /// <summary>Strings that are valid UTF-16 (lone surrogates cannot travel as UTF-8 JSON at all).</summary>
    private static bool IsValidUtf16(string? s) => s is null || Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(s)) == s;

    private static AiFlowSession Session(Guid id, string? phone, string? to) => new() { Id = id.ToString(), PhoneNumber = phone, ToPhoneNumber = to };

    private static AiFlowEvent RoundTrip(AiFlowEvent evt) => AiFlowEventParser.Parse(Encoding.UTF8.GetBytes(AiFlowJson.Serialize(evt)));

    [Property(MaxTest = 300)]
    public Property User_speak_round_trips(Guid id, NonNull<string> text, bool? bargedIn, string? phone, string? to)
    {
        var evt = new UserSpeakEvent { Session = Session(id, phone, to), Text = text.Get, BargedIn = bargedIn };
        return (RoundTrip(evt) == evt).When(IsValidUtf16(text.Get) && IsValidUtf16(phone) && IsValidUtf16(to));
    }

    [Property(MaxTest = 300)]
    public Property Assistant_speak_round_trips(Guid id, string? text, NormalFloat duration, long? startedAt)
    {
        var evt = new AssistantSpeakEvent { Session = Session(id, null, null), Text = text, DurationMs = duration.Get, SpeechStartedAt = startedAt };
        return (RoundTrip(evt) == evt).When(IsValidUtf16(text));
    }

    [Property(MaxTest = 200)]
    public bool Dtmf_and_session_end_round_trip(Guid id, byte key, string? reason)
    {
        var digit = "0123456789*#"[key % 12].ToString();
        var dtmf = new DtmfReceivedEvent { Session = Session(id, "4921155660", null), Digit = digit };
        var end = new SessionEndEvent { Session = Session(id, null, null), Reason = IsValidUtf16(reason) ? reason : null };
        return RoundTrip(dtmf) == dtmf && RoundTrip(end) == end;
    }

    [Property(MaxTest = 1000)]
    public bool Any_string_is_an_event_or_a_parse_error(string? input) => ParsesOrRejects(Encoding.UTF8.GetBytes(input ?? string.Empty));

    [Property(MaxTest = 1000)]
    public bool Any_bytes_are_an_event_or_a_parse_error(byte[] input) => ParsesOrRejects(input ?? []);

    [Property(MaxTest = 1000)]
    public bool A_damaged_event_is_an_event_or_a_parse_error(PositiveInt position, byte value, bool truncate)
    {
        var bytes = (byte[])ValidEvent.Clone();
        var at = position.Get % bytes.Length;
        bytes[at] = value;
        return ParsesOrRejects(truncate ? bytes[..at] : bytes);
    }

    [Property(MaxTest = 300)]
    public bool Any_json_value_in_any_field_is_an_event_or_a_parse_error(byte field, string? text, int number, bool flag)
    {
        string[] names = ["type", "text", "barged_in", "digit", "duration_ms", "speech_started_at", "reason", "ssml"];
        string[] values = [System.Text.Json.JsonSerializer.Serialize(text ?? string.Empty), number.ToString(System.Globalization.CultureInfo.InvariantCulture), flag ? "true" : "false", "null", "[]", "{}", "1e999"];
        var json = $$"""{"type":"user_speak","session":{"id":"550e8400-e29b-41d4-a716-446655440000"},"text":"x","{{names[field % names.Length]}}":{{values[(field / names.Length) % values.Length]}}}""";
        return ParsesOrRejects(Encoding.UTF8.GetBytes(json));
    }

    private static bool ParsesOrRejects(byte[] input)
    {
        try
        {
            _ = AiFlowEventParser.Parse(input);
            return true;
        }
        catch (AiFlowParseException ex)
        {
            return !string.IsNullOrWhiteSpace(ex.Message);
        }
    }
}
