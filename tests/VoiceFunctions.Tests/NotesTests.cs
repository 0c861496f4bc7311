using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// The call's notes end to end (issue 21): calls over HTTP against the published worker under the host emulator, the
/// notes request on a real Azurite queue, the CallNotes function writing them, read back with <c>GET /api/sessions/{id}</c>.
/// Azurite of its own (with a data folder, so it can be stopped and restarted) and the stand-in model for Azure OpenAI.
/// </summary>
public sealed class NotesTests : IAsyncLifetime
{
    private const string Deployment = "notes-standin";

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "voicefunctions-notes-" + Guid.NewGuid().ToString("N"));
    private Azurite _storage = null!;
    private StandInModel _model = null!;

    public async ValueTask InitializeAsync()
    {
        _storage = new Azurite { DataFolder = Path.Combine(_folder, "azurite") };
        await _storage.InitializeAsync();
        _model = await StandInModel.StartAsync();
    }

    private WebhookApp App(bool model = true, Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Spool:Path"] = Path.Combine(_folder, "spool-" + Guid.NewGuid().ToString("N")),
            ["Personas:default:Notes:Reasons:0"] = "appointment",
            ["Personas:default:Notes:Reasons:1"] = "cancellation",
            ["Personas:gated:Notes:Reasons:0"] = "prescription",
        };
        if (model)
        {
            settings["ChatModel:Endpoint"] = _model.Endpoint.ToString();
            settings["ChatModel:Deployment"] = Deployment;
            settings["ChatModel:ApiKey"] = "notes-test-key";
        }
        else
        {
            // No chat model at all: only voice-to-voice personas (a pipeline persona needs one).
            settings["ChatModel:Endpoint"] = null;
            settings["ChatModel:Deployment"] = null;
            settings["ChatModel:ApiKey"] = null;
            foreach (var key in TestPersonas.Settings.Keys.Where(k => k.StartsWith("Personas:gated:", StringComparison.Ordinal)))
            {
                settings[key] = null;
            }

            settings["Personas:gated:Notes:Reasons:0"] = null;
        }

        foreach (var (key, value) in more ?? [])
        {
            settings[key] = value;
        }

        return new WebhookApp(_storage, settings) { EnableQueues = true };
    }

    [Fact]
    public async Task A_voice_to_voice_call_ends_with_the_model_s_notes()
    {
        await using var app = App();
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.StartAsync(id);
        await calls.SayAsync(id, "I need an appointment, please call me back.");
        await calls.PressAsync(id, "3");
        Assert.Empty(await calls.EndAsync(id));

        var notes = await calls.WaitForNotesAsync(app, _storage, id);

        Assert.Equal("written", notes.GetProperty("status").GetString());
        Assert.Equal("model", notes.GetProperty("source").GetString());
        Assert.Equal(Deployment, notes.GetProperty("model").GetString());
        Assert.Equal("appointment", notes.GetProperty("reason").GetString());
        Assert.Equal("callback_requested", notes.GetProperty("outcome").GetString());
        Assert.True(notes.GetProperty("callback_requested").GetBoolean());
        Assert.Equal("+491701234567", notes.GetProperty("callback_number").GetString());
        Assert.Equal(1, notes.GetProperty("turns").GetInt32());
        Assert.Equal("3", notes.GetProperty("keys").GetString());
        Assert.True(notes.TryGetProperty("at", out _));
        Assert.False(notes.TryGetProperty("error", out _));
        var request = Assert.Single(_model.Requests, r => r.IsStructured);
        Assert.Contains("I need an appointment", request.LastUserText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_pipeline_call_ends_with_the_model_s_notes_with_its_persona_s_reasons()
    {
        await using var app = App();
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.StartAsync(id, TestPersonas.GatedNumber);
        await calls.SayAsync(id, "My prescription ran out.");
        await calls.EndAsync(id);

        var notes = await calls.WaitForNotesAsync(app, _storage, id);

        Assert.Equal("written", notes.GetProperty("status").GetString());
        Assert.Equal("prescription", notes.GetProperty("reason").GetString());
        var request = Assert.Single(_model.Requests, r => r.IsStructured);
        Assert.Equal(["prescription", "other"], request.SchemaEnum("reason"));
    }

    [Fact]
    public async Task Without_a_model_the_notes_are_what_the_trace_shows()
    {
        await using var app = App(model: false);
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.StartAsync(id);
        await calls.SayAsync(id, "I want a human");
        await calls.SendAsync(CallClient.Event("assistant_speech_ended", id)); // the transfer goes out
        await calls.EndAsync(id);

        var notes = await calls.WaitForNotesAsync(app, _storage, id);

        Assert.Equal("written", notes.GetProperty("status").GetString());
        Assert.Equal("trace", notes.GetProperty("source").GetString());
        Assert.False(notes.TryGetProperty("model", out _));
        Assert.False(notes.TryGetProperty("summary", out _));
        Assert.True(notes.GetProperty("escalated").GetBoolean());
        Assert.True(notes.GetProperty("transferred").GetBoolean());
        Assert.Equal("transferred", notes.GetProperty("outcome").GetString());
        Assert.Equal(1, notes.GetProperty("turns").GetInt32());
        Assert.False(notes.GetProperty("hung_up_in_greeting").GetBoolean());
        Assert.Empty(_model.Requests);
    }

    [Fact]
    public async Task A_model_answering_broken_json_leaves_failed_notes_and_no_crash_loop()
    {
        _model.BrokenStructured = true;
        await using var app = App();
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.StartAsync(id);
        await calls.SayAsync(id, "hello");
        await calls.EndAsync(id);

        var notes = await calls.WaitForNotesAsync(app, _storage, id);

        Assert.Equal("failed", notes.GetProperty("status").GetString());
        Assert.Equal("schema:not_json", notes.GetProperty("error").GetString());
        Assert.Equal(3, _model.Requests.Count(r => r.IsStructured)); // the first try and two more, then given up
        Assert.DoesNotContain("Function 'CallNotes' failed", app.Output, StringComparison.Ordinal); // returned normally
    }

    [Fact]
    public async Task A_redelivered_message_writes_the_notes_once()
    {
        await using var app = App();
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.StartAsync(id);
        await calls.SayAsync(id, "hello");
        await calls.EndAsync(id);
        var first = await calls.WaitForNotesAsync(app, _storage, id);
        var asked = _model.Requests.Count;

        // The same message again, twice (at-least-once delivery): as the host would run it.
        var message = EndedRequest(id);
        Assert.Equal(HttpStatusCode.Accepted, await NotesDelivery.RunAsync(app, "CallNotes", message));
        Assert.Equal(HttpStatusCode.Accepted, await NotesDelivery.RunAsync(app, "CallNotes", message));
        await WaitForLogAsync(app, $"Session {id}: notes already written", times: 2);

        var again = (await calls.GetSessionAsync(id)).GetProperty("notes");
        Assert.Equal(first.GetProperty("at").GetString(), again.GetProperty("at").GetString());
        Assert.Equal(asked, _model.Requests.Count); // the model was not asked again
    }

    [Fact]
    public async Task A_poisoned_message_marks_the_notes_failed()
    {
        await using var app = App();
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.StartAsync(id);
        await calls.EndAsync(id);
        _model.StructuredScript = _ => ModelBehaviour.Reply("{}", delayMs: 60_000); // the notes never finish by themselves

        var message = EndedRequest(id);
        Assert.Equal(HttpStatusCode.Accepted, await NotesDelivery.RunAsync(app, "CallNotesPoison", message));
        var notes = (await calls.WaitForSessionAsync(id, s => s.TryGetProperty("notes", out var n) && n.GetProperty("status").GetString() == "failed")).GetProperty("notes");

        Assert.Equal("failed", notes.GetProperty("status").GetString());
        Assert.Equal("poison", notes.GetProperty("error").GetString());
        Assert.Contains($"Session {id}: its notes request reached the poison queue", app.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_message_the_trigger_cannot_decode_lands_in_the_poison_queue_untouched()
    {
        await using var app = App();
        using var calls = app.Calls();
        await calls.StartAsync(CallClient.NewSessionId()); // the app is up

        // Not base64: the host's trigger (messageEncoding base64) moves it to call-notes-poison as it is, without running
        // CallNotes; CallNotesPoison cannot decode it either, so it stays there for an operator (the poison alert watches
        // the queue, not only the counter).
        var raw = new Azure.Storage.Queues.QueueClient(_storage.ConnectionString, "call-notes");
        await raw.CreateIfNotExistsAsync();
        await raw.SendMessageAsync("this is {not base64");
        var poison = new Azure.Storage.Queues.QueueClient(_storage.ConnectionString, "call-notes-poison");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Counted with the invisible ones: the poison queue's listener takes it and, unable to decode it, leaves it leased.
        while (!(await poison.ExistsAsync()).Value || (await poison.GetPropertiesAsync()).Value.ApproximateMessagesCount == 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "the message did not reach call-notes-poison");
            await Task.Delay(100);
        }

        Assert.Equal(0, (await raw.GetPropertiesAsync()).Value.ApproximateMessagesCount);
        Assert.DoesNotContain("is no notes request", app.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_storage_outage_at_session_end_still_ends_with_notes()
    {
        await using var app = App();
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.StartAsync(id);
        await calls.SayAsync(id, "hello");

        await _storage.StopAsync();
        Assert.Empty(await calls.EndAsync(id)); // answered (in time: FaultTests); the end waits in the spool
        Assert.True(Directory.EnumerateFiles(Path.Combine(_folder), "*.json", SearchOption.AllDirectories).Any(f => f.Contains("spool-", StringComparison.Ordinal)), "the end was not spooled");
        await Task.Delay(500);
        await _storage.StartAsync();

        var notes = await calls.WaitForNotesAsync(app, _storage, id, TimeSpan.FromSeconds(60));

        Assert.Equal("written", notes.GetProperty("status").GetString());
        Assert.Equal(1, notes.GetProperty("turns").GetInt32());
        Assert.Empty(await RemainingMessagesAsync(id)); // one request, none left over
    }

    [Fact]
    public async Task Erasing_a_call_with_notes_removes_them_and_a_late_request_writes_none()
    {
        await using var app = App();
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.StartAsync(id);
        await calls.SayAsync(id, "hello");
        await calls.EndAsync(id);
        await calls.WaitForNotesAsync(app, _storage, id);

        using (var erase = new HttpRequestMessage(HttpMethod.Delete, $"/api/sessions/{id}"))
        using (var http = new HttpClient { BaseAddress = app.Host.BaseAddress })
        {
            Assert.Equal(HttpStatusCode.NoContent, (await http.SendAsync(erase)).StatusCode);
        }

        var message = EndedRequest(id);
        Assert.Equal(HttpStatusCode.Accepted, await NotesDelivery.RunAsync(app, "CallNotes", message));
        await WaitForLogAsync(app, $"Session {id}: no notes (no such call, or it was erased)", times: 1);

        using var read = await calls.GetSessionResponseAsync(id);
        Assert.Equal(HttpStatusCode.NotFound, read.StatusCode);
        var table = new TableClient(_storage.ConnectionString, "VoiceSessions");
        var rows = new List<string>();
        var partition = id.ToLowerInvariant();
        await foreach (var row in table.QueryAsync<TableEntity>(e => e.PartitionKey == partition))
        {
            rows.Add(row.RowKey);
        }

        Assert.Equal(["session"], rows); // the erasure marker alone: no notes row
    }

    [Fact]
    public async Task The_persona_s_webhook_gets_the_notes_signed_retried_by_the_queue_and_once_acknowledged_never_again()
    {
        var secret = NewWebhookSecret();
        await using var receiver = await Notes.WebhookReceiver.StartAsync(secret);
        receiver.Status = 500; // down at first: the queue's redelivery is the retry
        await using var app = AppPostingNotesTo(receiver, secret);
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.StartAsync(id);
        await calls.SayAsync(id, "I need an appointment, please call me back.");
        await calls.EndAsync(id);

        var notes = await calls.WaitForNotesAsync(app, _storage, id);
        Assert.Equal("written", notes.GetProperty("status").GetString()); // stored although the receiver failed
        await WaitAsync(() => !receiver.Deliveries.IsEmpty, "no delivery reached the receiver");
        receiver.Status = 200;
        await WaitAsync(() => receiver.Deliveries.Count >= 2, "the failed delivery was not retried", TimeSpan.FromSeconds(40));
        await WaitForLogAsync(app, $"Session {id}: notes delivered to the persona's webhook (recorded: True)", times: 1);

        // A redelivered message once the receiver acknowledged: nobody is told again.
        var message = EndedRequest(id);
        Assert.Equal(HttpStatusCode.Accepted, await NotesDelivery.RunAsync(app, "CallNotes", message));
        await WaitForLogAsync(app, $"Session {id}: notes already written", times: 2);

        var deliveries = receiver.Deliveries.ToArray();
        Assert.Equal(2, deliveries.Length);
        Assert.All(deliveries, d =>
        {
            Assert.Equal("ok", d.Verdict); // the receiver's own verification of the Standard Webhooks signature
            Assert.Equal($"{id}:notes", d.Id); // the idempotency key, the same on every attempt
        });
        Assert.Equal(deliveries[0].Body, deliveries[1].Body);
        var body = JsonNode.Parse(deliveries[1].Body)!.AsObject();
        Assert.Equal(id, body["call_id"]!.GetValue<string>());
        Assert.Equal("written", body["status"]!.GetValue<string>());
        Assert.Equal(notes.GetProperty("reason").GetString(), body["reason"]!.GetValue<string>());
        Assert.DoesNotContain(secret, app.Output, StringComparison.Ordinal);
    }

    private static async Task WaitAsync(Func<bool> done, string because, TimeSpan? timeout = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!done())
        {
            Assert.True(clock.Elapsed < (timeout ?? TimeSpan.FromSeconds(20)), because);
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_receiver_down_for_every_delivery_of_the_queue_gets_the_notes_from_the_sweep_once_it_is_back()
    {
        var secret = NewWebhookSecret();
        await using var receiver = await Notes.WebhookReceiver.StartAsync(secret);
        receiver.Status = 503; // down for longer than the queue's five deliveries (about a minute)
        await using var app = AppPostingNotesTo(receiver, secret);
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.StartAsync(id);
        await calls.EndAsync(id);
        Assert.Equal("written", (await calls.WaitForNotesAsync(app, _storage, id)).GetProperty("status").GetString());
        var poisoned = $"Session {id}: its notes request reached the poison queue";
        await WaitAsync(() => app.Output.Contains(poisoned, StringComparison.Ordinal), "the queue did not give up on the delivery", TimeSpan.FromSeconds(120));
        Assert.Equal(5, receiver.Deliveries.Count); // maxDequeueCount: the queue's own retries are spent
        Assert.Equal("written", (await calls.GetSessionAsync(id)).GetProperty("notes").GetProperty("status").GetString()); // the notes stay

        // Notes:WebhookRetryAfter (an hour) has passed since the request: the row's request time, moved back.
        var table = new TableClient(_storage.ConnectionString, "VoiceSessions");
        await table.UpdateEntityAsync(new TableEntity(id.ToLowerInvariant(), "notes") { ["QueuedAt"] = DateTimeOffset.UtcNow.AddHours(-2) }, Azure.ETag.All, TableUpdateMode.Merge);
        receiver.Status = 200;
        Assert.True((await app.InvokeAsync("CallNotesIdleSweep")).Succeeded);
        await WaitForLogAsync(app, $"Session {id}: notes delivered to the persona's webhook (recorded: True)", times: 1);

        var deliveries = receiver.Deliveries.ToArray();
        Assert.Equal(6, deliveries.Length);
        Assert.All(deliveries, d => Assert.Equal($"{id}:notes", d.Id));
        Assert.Equal("ok", deliveries[^1].Verdict);

        // Acknowledged: the next sweep sends nothing.
        Assert.True((await app.InvokeAsync("CallNotesIdleSweep")).Succeeded);
        await WaitForLogAsync(app, "0 unacknowledged notes sent to the webhook again", times: 1);
        Assert.Equal(6, receiver.Deliveries.Count);
    }

    private static string NewWebhookSecret() => "whsec_" + Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    /// <summary>The app with the default persona's notes posted to <paramref name="receiver"/>, signed with <paramref name="secret"/>.</summary>
    private WebhookApp AppPostingNotesTo(Notes.WebhookReceiver receiver, string secret) => App(more: new()
    {
        ["Personas:default:Notes:WebhookUrl"] = receiver.Url.ToString(),
        ["Personas:default:Notes:WebhookSecret"] = secret,
    });

    /// <summary>A call's notes request as the app puts it on <c>call-notes</c> (before the trigger's base64).</summary>
    private static string EndedRequest(string id) =>
        new JsonObject { ["callId"] = id, ["cause"] = "ended", ["at"] = DateTimeOffset.UtcNow.ToString("O") }.ToJsonString();

    private async Task<List<string>> RemainingMessagesAsync(string id)
    {
        var client = new Azure.Storage.Queues.QueueClient(_storage.ConnectionString, "call-notes");
        var left = new List<string>();
        foreach (var message in (await client.PeekMessagesAsync(32)).Value)
        {
            var text = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(message.Body.ToString()));
            if (text.Contains(id, StringComparison.OrdinalIgnoreCase))
            {
                left.Add(text);
            }
        }

        return left;
    }

    private static async Task WaitForLogAsync(WebhookApp app, string line, int times)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Count(app.Output, line) < times)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"'{line}' logged {Count(app.Output, line)} of {times} times; the log ends: {app.Output[Math.Max(0, app.Output.Length - 3000)..]}");
            await Task.Delay(50);
        }

        static int Count(string text, string part) => (text.Length - text.Replace(part, string.Empty, StringComparison.Ordinal).Length) / part.Length;
    }

    public async ValueTask DisposeAsync()
    {
        await _model.DisposeAsync();
        await _storage.DisposeAsync();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
