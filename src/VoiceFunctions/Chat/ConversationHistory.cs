using VoiceFunctions.Sessions;

namespace VoiceFunctions.Chat;

/// <summary>
/// Reads what <see cref="Conversation.From"/> needs of a call's trace: the rows around the turn being answered, in
/// bounded ranges stepping back from it, never the whole call (a long call must not cost O(n) per turn).
/// </summary>
public static class ConversationHistory
{
    /// <summary>Rows read back at most, whatever the call holds (a long run of keys or fillers ends the history there).</summary>
    public const int MaxRowsRead = 2000;

    /// <param name="upToSeq">The caller row being answered.</param>
    public static async Task<IReadOnlyList<TraceEntry>> ReadAsync(
        SessionStore store, string sessionId, long upToSeq, string callerText, int maxRows, int maxChars, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);

        // A turn is typically a caller row, a reply and a few events around them: four rows per message plus some
        // slack usually covers the history in one read. Rows after the turn (written while the model thinks)
        // count only when they drop a late reply, so the same span after it is enough.
        var span = Math.Max(1, maxRows) * 4L + 16;
        var from = Math.Max(0, upToSeq - span);
        var rows = new List<TraceEntry>(await store.ReadTraceRangeAsync(sessionId, from, upToSeq + span, cancellationToken).ConfigureAwait(false));
        while (from > 0 && rows.Count < MaxRowsRead && Conversation.WantsOlderRows(rows, upToSeq, callerText, maxRows, maxChars))
        {
            span = Math.Min(span * 2, MaxRowsRead - rows.Count);
            var older = Math.Max(0, from - span);
            rows.InsertRange(0, await store.ReadTraceRangeAsync(sessionId, older, from, cancellationToken).ConfigureAwait(false));
            from = older;
        }

        return rows;
    }
}
