using System.Text.Encodings.Web;
using System.Text.Json;

namespace VoiceFunctions.AiFlow;

/// <summary>Writes and reads whole protocol messages: the webhook's answer, and events (for clients and tests).</summary>
public static class AiFlowJson
{
    /// <summary>
    /// The source-generated metadata with relaxed escaping: the body is JSON for a machine, not HTML, so
    /// "ö" and "+" travel as themselves instead of \u00F6 and \u002B (smaller, and readable in traces).
    /// </summary>
    internal static AiFlowJsonContext Context { get; } = new(new JsonSerializerOptions(AiFlowJsonContext.Default.Options)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary>The answer body: always a JSON array, which the platform executes in order.</summary>
    public static byte[] Serialize(IReadOnlyList<AiFlowAction> actions) =>
        JsonSerializer.SerializeToUtf8Bytes(actions, Context.IReadOnlyListAiFlowAction);

    /// <summary>Reads an answer: one action object or an array of them.</summary>
    public static IReadOnlyList<AiFlowAction> Deserialize(ReadOnlySpan<byte> utf8Json)
    {
        var reader = new Utf8JsonReader(utf8Json);
        if (!reader.Read())
        {
            throw new JsonException("Empty answer.");
        }

        return reader.TokenType == JsonTokenType.StartArray
            ? JsonSerializer.Deserialize(utf8Json, Context.IReadOnlyListAiFlowAction) ?? []
            : [JsonSerializer.Deserialize(utf8Json, Context.AiFlowAction) ?? throw new JsonException("null action")];
    }

    /// <summary>Writes an event as the platform would send it (for clients, replays and tests).</summary>
    /// <param name="evt">The event.</param>
    public static string Serialize(AiFlowEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        return evt switch
        {
            SessionStartEvent e => JsonSerializer.Serialize(e, Context.SessionStartEvent),
            UserSpeakEvent e => JsonSerializer.Serialize(e, Context.UserSpeakEvent),
            AssistantSpeakEvent e => JsonSerializer.Serialize(e, Context.AssistantSpeakEvent),
            AssistantSpeechEndedEvent e => JsonSerializer.Serialize(e, Context.AssistantSpeechEndedEvent),
            UserInputTimeoutEvent e => JsonSerializer.Serialize(e, Context.UserInputTimeoutEvent),
            DtmfReceivedEvent e => JsonSerializer.Serialize(e, Context.DtmfReceivedEvent),
            SessionEndEvent e => JsonSerializer.Serialize(e, Context.SessionEndEvent),
            UserSpeechStartedEvent e => JsonSerializer.Serialize(e, Context.UserSpeechStartedEvent),
            UserBargeInEvent e => JsonSerializer.Serialize(e, Context.UserBargeInEvent),
            SmsFailedEvent e => JsonSerializer.Serialize(e, Context.SmsFailedEvent),
            UnknownEvent e => $"{{\"type\":{JsonSerializer.Serialize(e.Type, Context.String)},\"session\":{JsonSerializer.Serialize(e.Session, Context.AiFlowSession)}}}",
            _ => throw new ArgumentException($"Unsupported event {evt.GetType().Name}.", nameof(evt)),
        };
    }
}
