using System.Text.Json;
using System.Text.Json.Nodes;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Notes;

/// <summary>
/// Tells a persona's receiver (<c>Personas:&lt;name&gt;:Notes:WebhookUrl</c>) a call's final notes, once: the POST
/// (<see cref="NotesWebhook"/>, signed, <c>webhook-id</c> = <c>&lt;call id&gt;:notes</c>) happens until the receiver
/// answers 2xx, then the notes row records <c>NotifiedAt</c> and no later delivery of the request posts again. A failed
/// POST throws <see cref="NotesWebhookException"/> out of the <c>CallNotes</c> function, so the host delivers the message
/// again (visibility timeout, then the poison queue); the notes themselves are stored already and stay. Between a 2xx
/// and the <c>NotifiedAt</c> write (a crash, a storage blip) the receiver may get the same id twice: that is what the
/// idempotency key is for (docs/notes-webhook.md).
/// </summary>
public sealed partial class NotesDelivery(SessionStore store, NotesWebhook webhook, TimeProvider time, ILogger<NotesDelivery> logger)
{
    /// <summary>Posts <paramref name="stored"/> when the persona has a receiver and it has not acknowledged them yet.</summary>
    public async Task DeliverAsync(string sessionId, Persona persona, StoredNotes stored, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(persona);
        ArgumentNullException.ThrowIfNull(stored);
        if (persona.Notes.WebhookUrl is not { } url || persona.Notes.WebhookSecret is not { } secret
            || !stored.Notes.IsFinal || stored.Notes.NotifiedAt is not null)
        {
            return;
        }

        await webhook.PostAsync(new Uri(url), secret, IdempotencyKey(sessionId), Body(sessionId, stored.Notes), cancellationToken).ConfigureAwait(false);
        var marked = await store.MarkNotesNotifiedAsync(sessionId, stored.ETag, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        LogDelivered(logger, sessionId, marked);
    }

    public static string IdempotencyKey(string sessionId) => sessionId + ":notes";

    /// <summary>The notes as <c>GET /api/sessions/{id}</c> shows them, with the call's id first.</summary>
    public static byte[] Body(string sessionId, CallNotes notes)
    {
        var body = JsonSerializer.SerializeToNode(notes, NotesJsonContext.Default.CallNotes)!.AsObject();
        body.Insert(0, "call_id", sessionId);
        return JsonSerializer.SerializeToUtf8Bytes(body, NotesBodyJsonContext.Default.JsonObject);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: notes delivered to the persona's webhook (recorded: {Recorded})")]
    private static partial void LogDelivered(ILogger logger, string sessionId, bool recorded);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(JsonObject))]
internal sealed partial class NotesBodyJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
