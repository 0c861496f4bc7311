using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace VoiceFunctions.AiFlow;

/// <summary>
/// Reads one AI Flow event from its UTF-8 JSON body. Tolerant where the platform is vague (field order,
/// unknown fields, unknown event types, missing optional session fields); strict where a wrong answer
/// would follow (no type, no UUID session id, a required field missing or of the wrong JSON type,
/// duplicate keys that make the event ambiguous).
/// </summary>
public static class AiFlowEventParser
{
    /// <summary>Deeper than any real event; keeps hostile nesting cheap to reject.</summary>
    public const int MaxDepth = 32;

    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        MaxDepth = MaxDepth,
        AllowDuplicateProperties = false,
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
    };

    /// <summary>Parses the body or throws <see cref="AiFlowParseException"/>; never any other exception.</summary>
    public static AiFlowEvent Parse(ReadOnlyMemory<byte> utf8Json)
    {
        // A UTF-8 byte order mark is legal in front of JSON text (RFC 8259 lets parsers ignore it); the reader does not skip it.
        if (utf8Json.Span.StartsWith("\uFEFF"u8))
        {
            utf8Json = utf8Json[3..];
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8Json, DocumentOptions);
        }
        catch (JsonException ex)
        {
            throw new AiFlowParseException(DescribeSyntaxError(ex), ex);
        }
        catch (ArgumentException ex)
        {
            // Invalid UTF-8 surfaces as ArgumentException from some reader paths.
            throw new AiFlowParseException("The body is not valid UTF-8 JSON.", ex);
        }
        catch (InvalidOperationException ex)
        {
            // The duplicate-key check unescapes every property name while parsing: a lone surrogate escape in a name
            // ("\ud800") fails there, not in the reader (found by FuzzTests).
            throw new AiFlowParseException("The body is not valid JSON (a property name holds an escape that is not valid UTF-16).", ex);
        }

        using (document)
        {
            return Parse(document.RootElement);
        }
    }

    /// <summary>Parses an event from an already parsed element; throws only <see cref="AiFlowParseException"/>.</summary>
    public static AiFlowEvent Parse(JsonElement root)
    {
        try
        {
            return ParseCore(root);
        }
        catch (InvalidOperationException ex)
        {
            // JsonDocument checks string contents lazily: invalid UTF-8 inside a string surfaces on first read.
            throw new AiFlowParseException("The body is not valid UTF-8 JSON (a string holds invalid UTF-8).", ex);
        }
    }

    private static AiFlowEvent ParseCore(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new AiFlowParseException("The body must be a JSON object.");
        }

        var type = RequireString(root, "type", "type");
        if (type.Length == 0)
        {
            throw new AiFlowParseException("'type' must not be empty.");
        }

        if (!root.TryGetProperty("session", out var session) || session.ValueKind == JsonValueKind.Null)
        {
            throw new AiFlowParseException("'session' is required.");
        }

        if (session.ValueKind != JsonValueKind.Object)
        {
            throw new AiFlowParseException("'session' must be an object.");
        }

        var id = RequireString(session, "id", "session.id");
        if (!SessionIds.IsValid(id))
        {
            throw new AiFlowParseException("'session.id' must be a UUID (e.g. 550e8400-e29b-41d4-a716-446655440000).");
        }

        return type switch
        {
            EventTypes.SessionStart => Read(root, AiFlowJsonContext.Default.SessionStartEvent),
            EventTypes.UserSpeak => ReadUserSpeak(root),
            EventTypes.AssistantSpeak => Read(root, AiFlowJsonContext.Default.AssistantSpeakEvent),
            EventTypes.AssistantSpeechEnded => Read(root, AiFlowJsonContext.Default.AssistantSpeechEndedEvent),
            EventTypes.UserInputTimeout => Read(root, AiFlowJsonContext.Default.UserInputTimeoutEvent),
            EventTypes.DtmfReceived => ReadDtmf(root),
            EventTypes.SessionEnd => Read(root, AiFlowJsonContext.Default.SessionEndEvent),
            EventTypes.UserSpeechStarted => Read(root, AiFlowJsonContext.Default.UserSpeechStartedEvent),
            EventTypes.UserBargeIn => Read(root, AiFlowJsonContext.Default.UserBargeInEvent),
            EventTypes.SmsFailed => Read(root, AiFlowJsonContext.Default.SmsFailedEvent),
            _ => new UnknownEvent(type) { Session = Read(session, AiFlowJsonContext.Default.AiFlowSession) },
        };
    }

    private static UserSpeakEvent ReadUserSpeak(JsonElement root)
    {
        RequireString(root, "text", "text");
        return Read(root, AiFlowJsonContext.Default.UserSpeakEvent);
    }

    private static DtmfReceivedEvent ReadDtmf(JsonElement root)
    {
        if (RequireString(root, "digit", "digit").Length == 0)
        {
            throw new AiFlowParseException("'digit' must not be empty.");
        }

        return Read(root, AiFlowJsonContext.Default.DtmfReceivedEvent);
    }

    private static string RequireString(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw new AiFlowParseException($"'{path}' is required.");
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw new AiFlowParseException($"'{path}' must be a string.");
        }

        return value.GetString()!;
    }

    private static T Read<T>(JsonElement element, JsonTypeInfo<T> typeInfo)
    {
        try
        {
            return element.Deserialize(typeInfo)
                ?? throw new AiFlowParseException("The event is empty.");
        }
        catch (JsonException ex)
        {
            var where = string.IsNullOrEmpty(ex.Path) || ex.Path == "$" ? "a field" : $"'{ex.Path.TrimStart('$', '.')}'";
            throw new AiFlowParseException($"{where} has the wrong JSON type.", ex);
        }
        catch (InvalidOperationException ex)
        {
            throw new AiFlowParseException("The body is not valid UTF-8 JSON (a string holds invalid UTF-8).", ex);
        }
    }

    private static string DescribeSyntaxError(JsonException ex)
    {
        var position = ex.LineNumber is { } line && ex.BytePositionInLine is { } column
            ? $" (line {line + 1}, byte {column + 1})"
            : string.Empty;
        if (ex.Message.Contains("duplicate", StringComparison.OrdinalIgnoreCase))
        {
            return $"The body has a duplicate property{position}; an event must be unambiguous.";
        }

        if (ex.Message.Contains("maximum configured depth", StringComparison.OrdinalIgnoreCase))
        {
            return $"The body is nested deeper than {MaxDepth} levels.";
        }

        return $"The body is not valid JSON{position}.";
    }
}
