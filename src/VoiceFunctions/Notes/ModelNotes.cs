using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using VoiceFunctions.Chat;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Notes;

/// <summary>What the model made of a call: the notes, or why none fit (no content in the error).</summary>
public sealed record ModelNotesResult(CallNotes? Notes, string? Error, string Deployment);

/// <summary>
/// The notes from the persona's chat model: one structured-output request (Microsoft.Extensions.AI, a JSON schema, strict)
/// over the bounded transcript (<see cref="NotesTranscript"/>). The answer is checked against the schema here as well —
/// a model (or a proxy) may ignore it — and an answer that does not fit is asked again, <c>Notes:ModelAttempts</c> times in
/// all; then the notes are <c>failed</c> with the reason.
/// </summary>
public sealed partial class ModelNotes(AssistantModel model, IOptions<NotesOptions> options, ILogger<ModelNotes> logger)
{
    private const int MaxSummaryChars = 600;
    private const int MaxFollowUpChars = 300;

    private readonly NotesOptions _options = options.Value;

    public async Task<ModelNotesResult> WriteAsync(Persona persona, SessionState session, string transcript, TraceFacts facts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(persona);
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(facts);
        // The notes' own deployment (Notes:Deployment) keeps their tokens off the live replies' deployment.
        var deployment = model.DeploymentFor(persona) is { } own ? _options.Deployment ?? own : throw new InvalidOperationException("No chat model is configured for this persona.");
        IReadOnlyList<string> reasons = [.. persona.Notes.Reasons, NotesReasons.Other];
        var format = ChatResponseFormat.ForJsonSchema(Schema(reasons), "call_notes", "What an operator needs to know about one phone call.");
        var messages = new List<ChatMessage>
        {
            new(ChatRole.System, Instructions(persona, reasons)),
            new(ChatRole.User, Facts(session, facts) + "\n\nTranscript:\n" + (transcript.Length == 0 ? "(nothing was said)" : transcript)),
        };

        string? error = null;
        for (var attempt = 1; attempt <= Math.Max(1, _options.ModelAttempts); attempt++)
        {
            var answer = await model.AskStructuredAsync(persona, deployment, messages, format, _options.MaxOutputTokens, _options.ModelTimeout, cancellationToken).ConfigureAwait(false);
            error = answer.Error is { } failed ? "model:" + failed : null;
            if (answer.Text is { } text)
            {
                var (notes, problem) = Check(text, reasons, session);
                if (notes is not null)
                {
                    return new ModelNotesResult(notes, null, deployment);
                }

                error = "schema:" + problem;
            }

            LogAttemptFailed(logger, session.SessionId, attempt, error!);
        }

        return new ModelNotesResult(null, error, deployment);
    }

    /// <summary>The JSON schema of the answer: every field required (strict mode wants that), nothing else allowed.</summary>
    public static JsonElement Schema(IReadOnlyList<string> reasons)
    {
        ArgumentNullException.ThrowIfNull(reasons);
        var schema = new JsonObject
        {
            ["type"] = "object",
            ["additionalProperties"] = false,
            ["required"] = new JsonArray("summary", "reason", "outcome", "callback_requested", "callback_number", "follow_up"),
            ["properties"] = new JsonObject
            {
                ["summary"] = new JsonObject { ["type"] = "string", ["description"] = "At most three sentences, in the language the caller spoke." },
                ["reason"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray([.. reasons.Select(r => (JsonNode?)JsonValue.Create(r))]) },
                ["outcome"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray([.. NotesOutcomes.All.Select(o => (JsonNode?)JsonValue.Create(o))]) },
                ["callback_requested"] = new JsonObject { ["type"] = "boolean" },
                ["callback_number"] = new JsonObject { ["type"] = new JsonArray("string", "null"), ["description"] = "Only a number the caller named for the callback; null for their own." },
                ["follow_up"] = new JsonObject { ["type"] = "string", ["description"] = "One line for whoever acts on the call, or empty." },
            },
        };
        return JsonSerializer.SerializeToElement(schema, NotesSchemaJsonContext.Default.JsonObject);
    }

    private static string Instructions(Persona persona, IReadOnlyList<string> reasons)
    {
        var language = string.IsNullOrWhiteSpace(persona.Language) ? "the language the caller spoke" : $"the call's language ('{persona.Language}')";
        return "You write the notes an operator reads after a phone call handled by a voice assistant. " +
            $"Answer with the JSON object the schema describes. summary: at most three sentences, in {language}: who called, what they wanted, what happened. " +
            $"reason: why they called, one of {string.Join(", ", reasons)} (other if none fits). " +
            "outcome: resolved (the assistant handled it), escalated (they asked for a human), transferred (they were put through), " +
            "callback_requested (someone must call back), abandoned (they hung up before anything was settled). " +
            "callback_requested: true when someone must call the caller back. callback_number: a number the caller named for the callback, else null. " +
            "follow_up: one line saying what to do next, or an empty string. Use only what the transcript says; invent nothing.";
    }

    private static string Facts(SessionState session, TraceFacts facts) =>
        $"Facts from the call record: direction {session.Direction ?? "unknown"}; duration {(session.EndedAt is { } end ? $"{(long)(end - session.StartedAt).TotalSeconds} s" : "unknown (no end received)")}; " +
        $"caller turns {facts.Turns}; keys pressed {facts.Keys ?? "none"}; asked for a human {(facts.Escalated ? "yes" : "no")}; transferred {(facts.Transferred ? "yes" : "no")}.";

    /// <summary>
    /// The answer checked against the schema (and the rules the schema cannot say: three sentences, one line). The error
    /// names the field and what is wrong, never its value.
    /// </summary>
    public static (CallNotes? Notes, string? Problem) Check(string json, IReadOnlyList<string> reasons, SessionState session)
    {
        ArgumentNullException.ThrowIfNull(reasons);
        ArgumentNullException.ThrowIfNull(session);
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(json);
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return (null, "not_json");
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            return (null, "not_object");
        }

        foreach (var property in root.EnumerateObject())
        {
            if (property.Name is not ("summary" or "reason" or "outcome" or "callback_requested" or "callback_number" or "follow_up"))
            {
                return (null, "unknown_field");
            }
        }

        if (!root.TryGetProperty("summary", out var summaryValue) || summaryValue.ValueKind != JsonValueKind.String || summaryValue.GetString() is not { Length: > 0 } summary || string.IsNullOrWhiteSpace(summary))
        {
            return (null, "summary");
        }

        if (summary.Length > MaxSummaryChars || Sentences(summary) > 3)
        {
            return (null, "summary_too_long");
        }

        if (!root.TryGetProperty("reason", out var reasonValue) || reasonValue.ValueKind != JsonValueKind.String || !reasons.Contains(reasonValue.GetString()!, StringComparer.Ordinal))
        {
            return (null, "reason");
        }

        if (!root.TryGetProperty("outcome", out var outcomeValue) || outcomeValue.ValueKind != JsonValueKind.String || !NotesOutcomes.All.Contains(outcomeValue.GetString()!, StringComparer.Ordinal))
        {
            return (null, "outcome");
        }

        if (!root.TryGetProperty("callback_requested", out var callbackValue) || callbackValue.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            return (null, "callback_requested");
        }

        string? named = null;
        if (!root.TryGetProperty("callback_number", out var numberValue) || numberValue.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
        {
            return (null, "callback_number");
        }

        if (numberValue.ValueKind == JsonValueKind.String && numberValue.GetString() is { Length: > 0 } number)
        {
            if (number.Length > 32 || !number.All(c => char.IsAsciiDigit(c) || c is '+' or ' ' or '-' or '(' or ')' or '/') || !number.Any(char.IsAsciiDigit))
            {
                return (null, "callback_number");
            }

            named = number.Trim();
        }

        if (!root.TryGetProperty("follow_up", out var followValue) || followValue.ValueKind != JsonValueKind.String)
        {
            return (null, "follow_up");
        }

        var followUp = followValue.GetString()!.Trim();
        if (followUp.Length > MaxFollowUpChars || followUp.Contains('\n', StringComparison.Ordinal))
        {
            return (null, "follow_up");
        }

        var callback = callbackValue.GetBoolean();
        return (new CallNotes
        {
            Status = NotesStatus.Written,
            Source = NotesSource.Model,
            At = DateTimeOffset.MinValue, // set by the writer
            Summary = summary.Trim(),
            Reason = reasonValue.GetString(),
            Outcome = outcomeValue.GetString(),
            CallbackRequested = callback,
            // The caller's own number unless they named another: inbound, the number that called; outbound, the one called.
            CallbackNumber = callback ? named ?? CallerNumber(session) : null,
            FollowUp = followUp.Length == 0 ? null : followUp,
        }, null);
    }

    /// <summary>The caller's number: who called in (inbound), or who was called (outbound).</summary>
    public static string? CallerNumber(SessionState session)
    {
        ArgumentNullException.ThrowIfNull(session);
        return string.Equals(session.Direction, "outbound", StringComparison.OrdinalIgnoreCase)
            ? session.ToPhoneNumber ?? session.PhoneNumber
            : session.FromPhoneNumber;
    }

    /// <summary>
    /// Sentences, counted by their ends: <c>. ! ? …</c> followed by the end of the text, or by a space and a capital letter or
    /// digit. Not an end: a number (<c>3.5</c>), a lower-case continuation, a one-letter abbreviation (<c>Frau M. rief</c>,
    /// <c>J. Smith</c>). An abbreviation before a capital (<c>Dr. Müller</c>) still counts: the check guards against a
    /// model writing paragraphs, the schema's description asks for three sentences.
    /// </summary>
    private static int Sentences(string text)
    {
        var t = text.Trim();
        var count = 0;
        for (var i = 0; i < t.Length; i++)
        {
            if (t[i] is not ('.' or '!' or '?' or '…' or '。'))
            {
                continue;
            }

            while (i + 1 < t.Length && t[i + 1] is '.' or '!' or '?' or '"' or '\'' or '»' or '«' or ')')
            {
                i++;
            }

            if (i == t.Length - 1)
            {
                count++;
                break;
            }

            var oneLetter = t[i] == '.' && i >= 1 && char.IsLetter(t[i - 1]) && (i == 1 || !char.IsLetter(t[i - 2]));
            if (char.IsWhiteSpace(t[i + 1]) && !oneLetter)
            {
                var next = t[(i + 1)..].TrimStart();
                if (next.Length > 0 && (char.IsUpper(next[0]) || char.IsDigit(next[0])))
                {
                    count++;
                }
            }
        }

        // Text after the last end is a sentence too.
        return t.Length == 0 ? 0 : count + (t[^1] is '.' or '!' or '?' or '…' or '。' or '"' or '\'' or '»' or '«' or ')' ? 0 : 1);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: notes from the model, try {Attempt}, did not fit ({Error})")]
    private static partial void LogAttemptFailed(ILogger logger, string sessionId, int attempt, string error);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(JsonObject))]
internal sealed partial class NotesSchemaJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
