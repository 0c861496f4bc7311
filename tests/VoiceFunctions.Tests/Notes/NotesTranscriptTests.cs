using VoiceFunctions.Notes;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Tests.Notes;

/// <summary>A two-hour call must not become one prompt: the transcript keeps the first turns and the newest, within the bound.</summary>
public sealed class NotesTranscriptTests
{
    private static TraceEntry Row(long seq, string text) =>
        new() { Seq = seq, At = DateTimeOffset.UtcNow, Kind = TraceKinds.Caller, Mode = SessionModes.VoiceToVoice, Text = text };

    [Fact]
    public void A_short_call_goes_whole()
    {
        var rows = Enumerable.Range(1, 10).Select(i => Row(i, $"turn {i}")).ToList();
        var text = NotesTranscript.Build(rows, [], 12_000);
        Assert.Equal(string.Join('\n', rows.Select(r => "Caller: " + r.Text)), text);
    }

    [Fact]
    public void A_long_call_keeps_its_beginning_and_its_end_within_the_bound_and_says_what_it_left_out()
    {
        // 3,000 turns of 100 characters: 300,000 characters of words.
        var head = Enumerable.Range(1, NotesTranscript.HeadRows).Select(i => Row(i, $"early {i} " + new string('a', 90))).ToList();
        var tail = Enumerable.Range(3000 - NotesTranscript.TailRows + 1, NotesTranscript.TailRows).Select(i => Row(i, $"late {i} " + new string('b', 90))).ToList();

        var text = NotesTranscript.Build(head, tail, 12_000);

        Assert.True(text.Length <= 12_000 + 100, $"{text.Length} characters");
        Assert.StartsWith("Caller: early 1 ", text, StringComparison.Ordinal);
        Assert.EndsWith("late 3000 " + new string('b', 90), text, StringComparison.Ordinal);
        Assert.Contains("trace rows of the middle of the call left out", text, StringComparison.Ordinal);
    }

    [Fact]
    public void One_enormous_turn_does_not_crowd_out_the_call()
    {
        var rows = new List<TraceEntry> { Row(1, "hello"), Row(2, new string('x', 600_000)), Row(3, "goodbye") };
        var text = NotesTranscript.Build(rows, [], 12_000);
        Assert.Contains("Caller: hello", text, StringComparison.Ordinal);
        Assert.Contains("Caller: goodbye", text, StringComparison.Ordinal);
        Assert.True(text.Length < 3000);
    }
}
