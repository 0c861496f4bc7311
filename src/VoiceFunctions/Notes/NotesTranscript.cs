using System.Text;
using VoiceFunctions.Chat;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Notes;

/// <summary>
/// The call's words as the notes model reads them, bounded: a two-hour call must not become one prompt. Only two
/// bounded reads of the trace are made — its first rows (<see cref="HeadRows"/>: who called and why is said early) and
/// its newest (<see cref="TailRows"/>: how it ended) — and of those at most <c>Notes:PromptChars</c> characters go in,
/// a quarter for the beginning and the rest for the end, with the number of rows left out in between said in the
/// prompt. A short call is simply whole.
/// </summary>
public static class NotesTranscript
{
    /// <summary>Trace rows read from the call's start.</summary>
    public const int HeadRows = 60;

    /// <summary>Trace rows read back from the call's end.</summary>
    public const int TailRows = 240;

    /// <summary>The lines the model reads: caller turns and what the assistant said (spoken replies, voice-to-voice lines).</summary>
    public static string? Line(TraceEntry row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return row.Kind switch
        {
            TraceKinds.Caller when !string.IsNullOrWhiteSpace(row.Text) => "Caller: " + row.Text,
            TraceKinds.Assistant when !string.IsNullOrWhiteSpace(row.Text) => "Assistant: " + row.Text,
            TraceKinds.AssistantReply when !string.IsNullOrWhiteSpace(row.Text) && ReplySource.IsSpoken(row.Detail) => "Assistant: " + row.Text,
            TraceKinds.Dtmf when row.Digit is not null => "(caller pressed " + row.Digit + ")",
            TraceKinds.Escalation => "(the caller asked for a human)",
            _ => null,
        };
    }

    /// <summary>
    /// The prompt's transcript from the <paramref name="head"/> rows (the call's first) and the <paramref name="tail"/>
    /// rows (its last; may overlap the head), at most <paramref name="maxChars"/> characters plus the omission note.
    /// </summary>
    public static string Build(IReadOnlyList<TraceEntry> head, IReadOnlyList<TraceEntry> tail, int maxChars)
    {
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(tail);
        var headLines = Lines(head);
        var afterHead = head.Count == 0 ? 0 : head[^1].Seq;
        var tailLines = Lines(tail.Where(r => r.Seq > afterHead));
        var gap = tail.Count > 0 && head.Count > 0 && tail.Min(r => r.Seq) > afterHead + 1;
        if (!gap && headLines.Sum(l => l.Text.Length + 1) + tailLines.Sum(l => l.Text.Length + 1) <= maxChars)
        {
            return string.Join('\n', headLines.Concat(tailLines).Select(l => l.Text));
        }

        // Too long: the first lines up to a quarter, the newest lines in what is left; what lies between is said, not sent.
        var first = Take(headLines, maxChars / 4, fromEnd: false);
        var last = Take([.. headLines.Skip(first.Count), .. tailLines], maxChars - first.Sum(l => l.Text.Length + 1), fromEnd: true);
        var omitted = last.Count == 0 ? 0 : last[0].Seq - (first.Count == 0 ? 0 : first[^1].Seq) - 1;
        var text = new StringBuilder();
        foreach (var line in first)
        {
            text.Append(line.Text).Append('\n');
        }

        if (omitted > 0)
        {
            text.Append("[… ").Append(omitted).Append(" trace rows of the middle of the call left out …]\n");
        }

        foreach (var line in last)
        {
            text.Append(line.Text).Append('\n');
        }

        return text.ToString().TrimEnd('\n');
    }

    private static List<(long Seq, string Text)> Lines(IEnumerable<TraceEntry> rows) =>
        [.. rows.OrderBy(r => r.Seq).Select(r => (r.Seq, Text: Line(r))).Where(l => l.Text is not null).Select(l => (l.Seq, Cut(l.Text!)))];

    /// <summary>One line is at most 2,000 characters: a caller's 600,000-character "turn" must not crowd out the call.</summary>
    private static string Cut(string line) => line.Length <= 2000 ? line : line[..2000] + " […]";

    private static List<(long Seq, string Text)> Take(List<(long Seq, string Text)> lines, int budget, bool fromEnd)
    {
        var taken = new List<(long Seq, string Text)>();
        var used = 0;
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[fromEnd ? lines.Count - 1 - i : i];
            if (used + line.Text.Length + 1 > budget)
            {
                break;
            }

            taken.Add(line);
            used += line.Text.Length + 1;
        }

        if (fromEnd)
        {
            taken.Reverse();
        }

        return taken;
    }
}
