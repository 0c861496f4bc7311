using System.Text.Json;

namespace VoiceFunctions.AiFlow;

/// <summary>Writes and reads whole protocol messages: the webhook's answer, and events (for clients and tests).</summary>
public static class AiFlowJson
{
    /// <summary>The answer body: always a JSON array, which the platform executes in order.</summary>
    public static byte[] Serialize(IReadOnlyList<AiFlowAction> actions) =>
        JsonSerializer.SerializeToUtf8Bytes(actions, AiFlowJsonContext.Default.IReadOnlyListAiFlowAction);

    /// <summary>Reads an answer: one action object or an array of them.</summary>
    public static IReadOnlyList<AiFlowAction> Deserialize(ReadOnlySpan<byte> utf8Json)
    {
        var reader = new Utf8JsonReader(utf8Json);
        if (!reader.Read())
        {
            throw new JsonException("Empty answer.");
        }

        return reader.TokenType == JsonTokenType.StartArray
            ? JsonSerializer.Deserialize(utf8Json, AiFlowJsonContext.Default.IReadOnlyListAiFlowAction) ?? []
            : [JsonSerializer.Deserialize(utf8Json, AiFlowJsonContext.Default.AiFlowAction) ?? throw new JsonException("null action")];
    }

    public static string Serialize(AiFlowEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        return evt switch
        {
            SessionStartEvent e => JsonSerializer.Serialize(e, AiFlowJsonContext.Default.SessionStartEvent),
            UserSpeakEvent e => JsonSerializer.Serialize(e, AiFlowJsonContext.Default.UserSpeakEvent),
            AssistantSpeakEvent e => JsonSerializer.Serialize(e, AiFlowJsonContext.Default.AssistantSpeakEvent),
            AssistantSpeechEndedEvent e => JsonSerializer.Serialize(e, AiFlowJsonContext.Default.AssistantSpeechEndedEvent),
            UserInputTimeoutEvent e => JsonSerializer.Serialize(e, AiFlowJsonContext.Default.UserInputTimeoutEvent),
            DtmfReceivedEvent e => JsonSerializer.Serialize(e, AiFlowJsonContext.Default.DtmfReceivedEvent),
            SessionEndEvent e => JsonSerializer.Serialize(e, AiFlowJsonContext.Default.SessionEndEvent),
            UserSpeechStartedEvent e => JsonSerializer.Serialize(e, AiFlowJsonContext.Default.UserSpeechStartedEvent),
            UserBargeInEvent e => JsonSerializer.Serialize(e, AiFlowJsonContext.Default.UserBargeInEvent),
            UnknownEvent e => $"{{\"type\":{JsonSerializer.Serialize(e.Type, AiFlowJsonContext.Default.String)},\"session\":{JsonSerializer.Serialize(e.Session, AiFlowJsonContext.Default.AiFlowSession)}}}",
            _ => throw new ArgumentException($"Unsupported event {evt.GetType().Name}.", nameof(evt)),
        };
    }
}
