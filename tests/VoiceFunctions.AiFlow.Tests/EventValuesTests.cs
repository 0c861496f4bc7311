using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace VoiceFunctions.AiFlow.Tests;

/// <summary>The protocol's defined values: one DTMF key of twelve, durations finite, non-negative and bounded.</summary>
public class EventValuesTests
{
    [Theory]
    [InlineData("0")]
    [InlineData("5")]
    [InlineData("9")]
    [InlineData("*")]
    [InlineData("#")]
    public void The_twelve_keys_are_dtmf_keys(string digit) => Assert.True(EventValues.IsDtmfKey(digit));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("😀")]
    [InlineData("12")]
    [InlineData("1 ")]
    [InlineData("A")] // the fourth DTMF column (A-D) is not in the protocol's list
    [InlineData("d")]
    [InlineData("１")] // full-width one
    [InlineData("\u0661")] // Arabic-Indic one: a digit to char.IsDigit, not a key
    [InlineData("\u001b")]
    public void Anything_else_is_not(string? digit) => Assert.False(EventValues.IsDtmfKey(digit));

    private static readonly string[] Keys = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"];

    [Property(MaxTest = 500)]
    public bool A_string_is_a_dtmf_key_exactly_when_it_is_one_of_the_twelve(string? digit) =>
        EventValues.IsDtmfKey(digit) == Keys.Contains(digit);

    [Theory]
    [InlineData(0)]
    [InlineData(1830.5)]
    [InlineData(EventValues.MaxDurationMs)]
    public void Real_durations_are_durations(double ms) => Assert.True(EventValues.IsDurationMs(ms));

    [Theory]
    [InlineData(-5)]
    [InlineData(-0.001)]
    [InlineData(1e308)]
    [InlineData(EventValues.MaxDurationMs + 1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void Negative_huge_or_non_finite_durations_are_not(double ms) => Assert.False(EventValues.IsDurationMs(ms));

    [Property(MaxTest = 500)]
    public Property A_duration_is_valid_exactly_when_finite_and_between_zero_and_the_bound(double ms) =>
        (EventValues.IsDurationMs(ms) == (double.IsFinite(ms) && ms >= 0 && ms <= EventValues.MaxDurationMs)).ToProperty();

    [Fact]
    public void The_parser_reads_values_as_sent_for_the_receiver_to_judge()
    {
        var dtmf = (DtmfReceivedEvent)AiFlowEventParser.Parse("""{"type":"dtmf_received","session":{"id":"550e8400-e29b-41d4-a716-446655440000"},"digit":"😀"}"""u8.ToArray());
        var said = (AssistantSpeakEvent)AiFlowEventParser.Parse("""{"type":"assistant_speak","session":{"id":"550e8400-e29b-41d4-a716-446655440000"},"text":"x","duration_ms":-5}"""u8.ToArray());

        Assert.False(EventValues.IsDtmfKey(dtmf.Digit));
        Assert.False(EventValues.IsDurationMs(said.DurationMs!.Value));
    }
}
