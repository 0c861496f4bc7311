using System.Globalization;
using Azure.Data.Tables;

namespace VoiceFunctions.Sessions;

/// <summary>
/// The table layout. One partition per session (PartitionKey = canonical session UUID) holds the session
/// row and its history rows, so a step is one entity-group transaction and a call is one partition query.
/// RowKeys: <c>session</c>; <c>mode-{seq:D10}</c>; <c>trace-{seq:D10}</c>. The sequence number comes from
/// the session row, which every step replaces under its ETag: concurrent events are serialized, none lost.
/// </summary>
public static class SessionTable
{
    public const string SessionRowKey = "session";
    public const string ModePrefix = "mode-";
    public const string TracePrefix = "trace-";

    /// <summary>Sorts right after every <c>trace-…</c> key ('.' follows '-'): the open end of a trace range.</summary>
    public const string TraceEnd = "trace.";

    /// <summary>On the session row: the id of the last spooled step applied to it (replay idempotency).</summary>
    public const string SpoolMarkProperty = "SpoolMark";

    /// <summary>
    /// On the session row: the call was erased. The erasure replaces the session row with this marker (no personal data:
    /// the key and when) and deletes every other row; every commit touches the session row conditionally (an add, or an
    /// update under the ETag it read), so a step decided on any instance before the erasure cannot land after it, and a
    /// load reads the marker and records nothing. Kept for the retention period, then purged.
    /// </summary>
    public const string ErasedProperty = "Erased";

    /// <summary>On a trace row: the id of the event that wrote it (see <see cref="TraceEntry.EventId"/>).</summary>
    public const string EventIdProperty = "EventId";

    /// <summary>On every row: which fields were stored shortened to fit Table Storage, and how long they were (<see cref="ShortenedFields"/>).</summary>
    public const string ShortenedProperty = "Shortened";

    /// <summary>
    /// A string property holds at most 64 KiB (32 K UTF-16 units). Longer text is split over
    /// Text, Text_1, Text_2 … and joined on read, up to what fits the 1 MiB entity (<see cref="TableLimits"/>).
    /// </summary>
    public const int TextChunkChars = 32_000;

    /// <summary>What a load reads: the session row's properties and the trace rows' Seq and Kind (no text).</summary>
    public static readonly IReadOnlyList<string> LoadColumns =
    [
        "PartitionKey", "RowKey", "AccountId", "PhoneNumber", "FromPhoneNumber", "ToPhoneNumber", "Direction", "Persona", "Mode", "StartedAt",
        "EndedAt", "EndReason", "DurationMs", "TurnCount", "StartCount", "LastSeq", "Escalated", "ModelFailures", SpoolMarkProperty, "Seq", "Kind", EventIdProperty, ShortenedProperty,
        ErasedProperty, PendingPurpose, PendingActionsJson, PendingDeliverOn, PendingDropOn, PendingCreatedAt, PendingExpiresAt,
    ];

    // The session row's pending actions (see PendingActions): columns rather than one blob, so an operator can read them.
    private const string PendingPurpose = "PendingPurpose";
    private const string PendingActionsJson = "PendingActions";
    private const string PendingDeliverOn = "PendingDeliverOn";
    private const string PendingDropOn = "PendingDropOn";
    private const string PendingCreatedAt = "PendingCreatedAt";
    private const string PendingExpiresAt = "PendingExpiresAt";

    public static string RowKey(string prefix, long seq) => prefix + seq.ToString("D10", CultureInfo.InvariantCulture);

    /// <summary>The session row, fitted to Table Storage's limits (what was cut is noted on the row).</summary>
    /// <exception cref="UnstorableStepException">The row cannot be made to fit.</exception>
    public static TableEntity ToEntity(SessionState s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var entity = SessionEntity(s);
        if (s.Pending is { } pending)
        {
            entity[PendingPurpose] = pending.Purpose;
            entity[PendingActionsJson] = System.Text.Encoding.UTF8.GetString(AiFlow.AiFlowJson.Serialize(pending.Actions));
            entity[PendingDeliverOn] = string.Join(' ', pending.DeliverOn);
            entity[PendingDropOn] = string.Join(' ', pending.DropOn);
            entity[PendingCreatedAt] = pending.CreatedAt;
            entity[PendingExpiresAt] = pending.ExpiresAt;
        }

        TableLimits.Fit(entity, new ShortenedFields(s.Shortened));
        return entity;
    }

    private static TableEntity SessionEntity(SessionState s) => new(s.SessionId, SessionRowKey)
    {
        ["AccountId"] = s.AccountId,
        ["PhoneNumber"] = s.PhoneNumber,
        ["FromPhoneNumber"] = s.FromPhoneNumber,
        ["ToPhoneNumber"] = s.ToPhoneNumber,
        ["Direction"] = s.Direction,
        ["Persona"] = s.Persona,
        ["Mode"] = s.Mode,
        ["StartedAt"] = s.StartedAt,
        ["EndedAt"] = s.EndedAt,
        ["EndReason"] = s.EndReason,
        ["DurationMs"] = s.DurationMs,
        ["TurnCount"] = s.TurnCount,
        ["StartCount"] = s.StartCount,
        ["LastSeq"] = s.LastSeq,
        ["Escalated"] = s.Escalated,
        ["ModelFailures"] = s.ModelFailures,
    };

    /// <summary>The erasure marker that replaces an erased call's session row (<see cref="ErasedProperty"/>); StartedAt is the erasure's time, for retention.</summary>
    public static TableEntity ErasureMarker(string sessionId, DateTimeOffset at) => new(sessionId, SessionRowKey)
    {
        ["StartedAt"] = at,
        [ErasedProperty] = true,
    };

    public static bool IsErasureMarker(TableEntity e) => e.RowKey == SessionRowKey && e.GetBoolean(ErasedProperty) == true;

    public static SessionState ToSession(TableEntity e) => new()
    {
        SessionId = e.PartitionKey,
        AccountId = e.GetString("AccountId"),
        PhoneNumber = e.GetString("PhoneNumber"),
        FromPhoneNumber = e.GetString("FromPhoneNumber"),
        ToPhoneNumber = e.GetString("ToPhoneNumber"),
        Direction = e.GetString("Direction"),
        Persona = e.GetString("Persona") ?? "default",
        Mode = e.GetString("Mode") ?? SessionModes.VoiceToVoice,
        StartedAt = e.GetDateTimeOffset("StartedAt") ?? DateTimeOffset.MinValue,
        EndedAt = e.GetDateTimeOffset("EndedAt"),
        EndReason = e.GetString("EndReason"),
        TurnCount = e.GetInt32("TurnCount") ?? 0,
        StartCount = e.GetInt32("StartCount") ?? 0,
        LastSeq = e.GetInt64("LastSeq") ?? 0,
        Escalated = e.GetBoolean("Escalated") ?? false,
        ModelFailures = e.GetInt32("ModelFailures") ?? 0,
        Pending = ToPending(e),
        Shortened = e.GetString(ShortenedProperty),
    };

    private static PendingActions? ToPending(TableEntity e)
    {
        if (e.GetString(PendingPurpose) is not { } purpose || e.GetString(PendingActionsJson) is not { } json ||
            new ShortenedFields(e.GetString(ShortenedProperty)).Contains(PendingActionsJson))
        {
            return null; // none, or cut to fit (no longer valid JSON; never seen: model replies and persona lines are far shorter)
        }

        return new PendingActions
        {
            Purpose = purpose,
            Actions = AiFlow.AiFlowJson.Deserialize(System.Text.Encoding.UTF8.GetBytes(json)),
            DeliverOn = Split(e.GetString(PendingDeliverOn)),
            DropOn = Split(e.GetString(PendingDropOn)),
            CreatedAt = e.GetDateTimeOffset(PendingCreatedAt) ?? DateTimeOffset.MinValue,
            ExpiresAt = e.GetDateTimeOffset(PendingExpiresAt),
        };

        static string[] Split(string? value) => value?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
    }

    /// <summary>A trace row, fitted to Table Storage's limits: long fields cut, the text up to what the entity holds; noted on the row.</summary>
    /// <exception cref="UnstorableStepException">The row cannot be made to fit.</exception>
    public static TableEntity ToEntity(string sessionId, TraceEntry t)
    {
        ArgumentNullException.ThrowIfNull(t);
        var entity = new TableEntity(sessionId, RowKey(TracePrefix, t.Seq))
        {
            ["Seq"] = t.Seq,
            ["At"] = t.At,
            ["Kind"] = t.Kind,
            ["Mode"] = t.Mode,
            ["BargedIn"] = t.BargedIn,
            ["Digit"] = t.Digit,
            ["DurationMs"] = t.DurationMs,
            ["Detail"] = t.Detail,
            [EventIdProperty] = t.EventId,
        };
        var shortened = new ShortenedFields(t.Shortened);
        TableLimits.Fit(entity, shortened); // the other fields first: the text gets what room is left
        WriteText(entity, t.Text, shortened);
        TableLimits.Fit(entity, shortened);
        return entity;
    }

    public static TraceEntry ToTrace(TableEntity e) => new()
    {
        Seq = e.GetInt64("Seq") ?? 0,
        At = e.GetDateTimeOffset("At") ?? DateTimeOffset.MinValue,
        Kind = e.GetString("Kind") ?? "unknown",
        Mode = e.GetString("Mode") ?? string.Empty,
        Text = ReadText(e),
        BargedIn = e.GetBoolean("BargedIn"),
        Digit = e.GetString("Digit"),
        DurationMs = e.GetDouble("DurationMs"),
        Detail = e.GetString("Detail"),
        EventId = e.GetString(EventIdProperty),
        Shortened = e.GetString(ShortenedProperty),
    };

    /// <summary>A mode row (its values are the app's own; checked like every row all the same).</summary>
    public static TableEntity ToEntity(string sessionId, ModeChange m)
    {
        ArgumentNullException.ThrowIfNull(m);
        var entity = new TableEntity(sessionId, RowKey(ModePrefix, m.Seq))
        {
            ["Seq"] = m.Seq,
            ["At"] = m.At,
            ["From"] = m.From,
            ["To"] = m.To,
            ["Reason"] = m.Reason,
        };
        TableLimits.Fit(entity, new ShortenedFields());
        return entity;
    }

    public static ModeChange ToModeChange(TableEntity e) => new()
    {
        Seq = e.GetInt64("Seq") ?? 0,
        At = e.GetDateTimeOffset("At") ?? DateTimeOffset.MinValue,
        From = e.GetString("From"),
        To = e.GetString("To") ?? string.Empty,
        Reason = e.GetString("Reason") ?? string.Empty,
    };

    /// <summary>Splits text into property-sized chunks without cutting a surrogate pair.</summary>
    public static IReadOnlyList<string> Chunk(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var chunks = new List<string>();
        var start = 0;
        while (start < text.Length)
        {
            var length = Math.Min(TextChunkChars, text.Length - start);
            if (start + length < text.Length && char.IsHighSurrogate(text[start + length - 1]))
            {
                length--;
            }

            chunks.Add(text.Substring(start, length));
            start += length;
        }

        return chunks;
    }

    /// <summary>
    /// Writes the text over as many chunks as the entity has room for (1 MiB in all); a text longer than that
    /// (possible only with <c>AiFlow__MaxBodyBytes</c> above ~512 KiB) keeps its beginning and is noted as shortened.
    /// </summary>
    private static void WriteText(TableEntity entity, string? text, ShortenedFields shortened)
    {
        if (text is null)
        {
            return;
        }

        var room = TableLimits.EntityBudgetBytes - TableLimits.EntityBytes(entity) - TableLimits.PropertyBytes("TextChunks", 0);
        var count = 0;
        var written = 0;
        foreach (var chunk in Chunk(text))
        {
            var name = count == 0 ? "Text" : $"Text_{count}";
            var part = TableLimits.Cut(chunk, (int)Math.Clamp((room - TableLimits.PropertyBytes(name, string.Empty)) / 2, 0, chunk.Length));
            if (part.Length == 0)
            {
                break;
            }

            entity[name] = part;
            room -= TableLimits.PropertyBytes(name, part);
            written += part.Length;
            count++;
            if (part.Length < chunk.Length)
            {
                break;
            }
        }

        if (count == 0)
        {
            entity["Text"] = string.Empty;
        }

        if (written < text.Length)
        {
            shortened.Add("Text", text.Length);
        }

        entity["TextChunks"] = Math.Max(1, count);
    }

    private static string? ReadText(TableEntity e)
    {
        var first = e.GetString("Text");
        var count = e.GetInt32("TextChunks") ?? 1;
        if (first is null || count <= 1)
        {
            return first;
        }

        return string.Concat(Enumerable.Range(0, count).Select(i => i == 0 ? first : e.GetString($"Text_{i}")));
    }
}
