using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Queues;

namespace VoiceFunctions.Tests.Infrastructure;

/// <summary>
/// Waits for a call's notes over HTTP (<c>GET /api/sessions/{id}</c>). The requests are the app's own, on the Azurite
/// queue <c>call-notes</c>; what runs them is the emulator's queue trigger (<see cref="WebhookApp.EnableQueues"/>). With
/// <see cref="ByHand"/> (an app without queue triggers) a message found on the queue is run as the host's admin API would:
/// <c>POST /admin/functions/CallNotes</c> with the message's text as input, base64-decoded as the trigger decodes it.
/// </summary>
public static class NotesDelivery
{
    /// <summary>True: messages are read off the queue and run through the admin API (an app whose queue triggers are off).</summary>
    public static bool ByHand { get; set; }

    /// <summary>The notes' JSON once they are written or failed; fails the test after <paramref name="timeout"/>.</summary>
    public static async Task<JsonElement> WaitForNotesAsync(this CallClient calls, WebhookApp app, Azurite storage, string id, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(calls);
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(storage);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        while (true)
        {
            var session = await calls.WaitForSessionAsync(id, _ => true, limit).ConfigureAwait(false);
            if (session.TryGetProperty("notes", out var notes) && notes.GetProperty("status").GetString() is "written" or "failed")
            {
                return notes;
            }

            Assert.True(clock.Elapsed < limit, $"no final notes for {id} after {limit}: {(session.TryGetProperty("notes", out var n) ? n.GetRawText() : "none")}");
            if (ByHand)
            {
                await DeliverAsync(app, storage, id).ConfigureAwait(false);
            }

            await Task.Delay(100).ConfigureAwait(false);
        }
    }

    /// <summary>Runs every message for <paramref name="id"/> now on the queue through <c>CallNotes</c> (others are left, visible again in 2 s).</summary>
    public static async Task<int> DeliverAsync(WebhookApp app, Azurite storage, string id, string function = "CallNotes", string queue = "call-notes")
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(storage);
        var client = new QueueClient(storage.ConnectionString, queue);
        if (!(await client.ExistsAsync().ConfigureAwait(false)).Value)
        {
            return 0;
        }

        var delivered = 0;
        foreach (var message in (await client.ReceiveMessagesAsync(32, TimeSpan.FromSeconds(2)).ConfigureAwait(false)).Value)
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(message.Body.ToString()));
            if (JsonNode.Parse(text)?["callId"]?.GetValue<string>() != id)
            {
                continue;
            }

            Assert.Equal(HttpStatusCode.Accepted, await RunAsync(app, function, text).ConfigureAwait(false));
            await client.DeleteMessageAsync(message.MessageId, message.PopReceipt).ConfigureAwait(false);
            delivered++;
        }

        return delivered;
    }

    /// <summary>The host's admin API: <c>POST /admin/functions/{name}</c> with <c>{"input": text}</c> (202: on its way).</summary>
    public static async Task<HttpStatusCode> RunAsync(WebhookApp app, string function, string input)
    {
        ArgumentNullException.ThrowIfNull(app);
        using var http = new HttpClient { BaseAddress = app.Host.BaseAddress };
        using var content = new StringContent(new JsonObject { ["input"] = input }.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await http.PostAsync(new Uri($"/admin/functions/{function}", UriKind.Relative), content).ConfigureAwait(false);
        return response.StatusCode;
    }
}
