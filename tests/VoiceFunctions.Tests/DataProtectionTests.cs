using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>Transcripts are personal data: retention, erasure, and nothing personal or secret in logs or errors.</summary>
public sealed class DataProtectionTests(Azurite azurite)
{
    private const string Token = "data-protection-test-token";

    [Fact]
    public async Task The_timer_function_purges_sessions_older_than_the_retention_in_bounded_batches()
    {
        var table = "Retention" + Guid.NewGuid().ToString("N")[..8];
        await using var app = new WebhookApp(azurite, new Dictionary<string, string?>
        {
            ["SessionStore:TableName"] = table,
            ["Retention:Days"] = "30",
            ["Retention:BatchSize"] = "2",
        });
        using var calls = app.Calls();
        var old = new[] { CallClient.NewSessionId(), CallClient.NewSessionId(), CallClient.NewSessionId() };
        foreach (var id in old)
        {
            await calls.StartAsync(id);
            await calls.SayAsync(id, "an old call");
        }

        var recent = CallClient.NewSessionId();
        await calls.StartAsync(recent);

        // The worker runs on the real clock: the old calls are made old in storage (35 days), the recent one is 0.
        var sessions = new TableClient(azurite.ConnectionString, table);
        foreach (var id in old)
        {
            await sessions.UpdateEntityAsync(new TableEntity(id, "session") { ["StartedAt"] = DateTimeOffset.UtcNow.AddDays(-35) }, ETag.All, TableUpdateMode.Merge);
        }

        // Fired the way the host fires a timer function (an invocation over gRPC), not over HTTP.
        Assert.True((await app.InvokeAsync("RetentionPurge")).Succeeded);
        var leftAfterFirst = await StoredAsync(calls, old);
        Assert.True((await app.InvokeAsync("RetentionPurge")).Succeeded);
        var leftAfterSecond = await StoredAsync(calls, old);
        Assert.True((await app.InvokeAsync("RetentionPurge")).Succeeded);

        Assert.Equal(1, leftAfterFirst); // a batch of 2
        Assert.Equal(0, leftAfterSecond);
        Assert.Equal("voice_to_voice", (await calls.GetSessionAsync(recent)).GetProperty("mode").GetString());
        Assert.Contains("purged 2 sessions", app.Output, StringComparison.OrdinalIgnoreCase);
    }

    private static async Task<int> StoredAsync(CallClient calls, IEnumerable<string> ids)
    {
        var count = 0;
        foreach (var id in ids)
        {
            using var response = await calls.GetSessionResponseAsync(id);
            count += response.StatusCode == HttpStatusCode.OK ? 1 : 0;
        }

        return count;
    }

    [Fact]
    public async Task Erasure_removes_the_call_and_is_idempotent_and_needs_the_token()
    {
        await using var app = new WebhookApp(azurite, new Dictionary<string, string?> { ["AiFlow:ApiToken"] = Token });
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await calls.SendAsync(CallClient.Event("session_start", id), Token);
        for (var i = 0; i < 120; i++)
        {
            // more rows than one transaction may delete
            await calls.SendAsync(CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = $"turn {i}" }), Token);
        }

        using var anonymous = await DeleteAsync(calls, id, token: null);
        await ProblemAssert.IsProblemAsync(anonymous, 401, "urn:voicefunctions:problem:unauthorized");
        Assert.Equal(HttpStatusCode.OK, (await calls.GetSessionResponseAsync(id, Token)).StatusCode);

        using var erased = await DeleteAsync(calls, id, Token);
        using var again = await DeleteAsync(calls, id, Token);
        using var never = await DeleteAsync(calls, CallClient.NewSessionId(), Token);
        using var invalid = await DeleteAsync(calls, "not-a-uuid", Token);

        Assert.Equal(HttpStatusCode.NoContent, erased.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, again.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, never.StatusCode);
        await ProblemAssert.IsProblemAsync(invalid, 400, "urn:voicefunctions:problem:invalid-session-id");
        using var read = await calls.GetSessionResponseAsync(id, Token);
        await ProblemAssert.IsProblemAsync(read, 404, "urn:voicefunctions:problem:session-not-found");

        // A later event for the erased call is answered but writes nothing (issue 23: nothing of an erased call is written again).
        await calls.SendAsync(CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = "after erasure" }), Token);
        await calls.SendAsync(CallClient.Event("session_start", id), Token);
        using var afterwards = await calls.GetSessionResponseAsync(id, Token);
        await ProblemAssert.IsProblemAsync(afterwards, 404, "urn:voicefunctions:problem:session-not-found");
    }

    [Fact]
    public async Task The_timer_function_has_no_http_route()
    {
        await using var app = new WebhookApp(azurite);
        using var calls = app.Calls();

        using var viaApi = await calls.Http.PostAsync(new Uri("/api/RetentionPurge", UriKind.Relative), new StringContent("{}", Encoding.UTF8, "application/json"));
        using var viaRoot = await calls.Http.PostAsync(new Uri("/RetentionPurge", UriKind.Relative), new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.NotFound, viaApi.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, viaRoot.StatusCode);
    }

    [Fact]
    public async Task Logs_never_hold_caller_text_or_the_token_even_when_storage_fails()
    {
        var storage = new Azurite { DataFolder = Path.Combine(Path.GetTempPath(), "voicefunctions-logs-" + Guid.NewGuid().ToString("N")) };
        await storage.InitializeAsync();
        try
        {
            // Every log record of the worker reaches the host (rpc_log) at Debug and above, arguments formatted.
            await using var app = new WebhookApp(storage, new Dictionary<string, string?> { ["AiFlow:ApiToken"] = Token, ["Logging:LogLevel:Default"] = "Debug" });
            using var calls = app.Calls();
            var id = CallClient.NewSessionId();
            const string secretText = "my PIN is 4711 and my IBAN DE02120300000000202051";

            await calls.SendAsync(CallClient.Event("session_start", id), Token);
            await calls.SendAsync(CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = secretText }), Token);
            await storage.StopAsync();
            await calls.SendAsync(CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = secretText + " (during outage)" }), Token);
            using var bad = await calls.PostRawAsync("{\"type\":\"user_speak\",\"session\":{\"id\":\"" + id + "\"},\"text\":" + JsonSerializer.Serialize(secretText) + ",\"barged_in\":\"no\"}", "application/json", Token);
            using var wrongToken = await calls.PostAsync(CallClient.Event("session_start", id), "wrong-" + Token);

            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.DoesNotContain("4711", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            var logs = new { Lines = app.Output.Split('\n') };
            Assert.NotEmpty(logs.Lines);
            Assert.Contains(logs.Lines, l => l.Contains("spool", StringComparison.OrdinalIgnoreCase));
            Assert.DoesNotContain(logs.Lines, l => l.Contains("4711", StringComparison.Ordinal) || l.Contains("IBAN", StringComparison.Ordinal));
            Assert.DoesNotContain(logs.Lines, l => l.Contains(Token, StringComparison.Ordinal));
        }
        finally
        {
            await storage.DisposeAsync();
        }
    }

    private static async Task<HttpResponseMessage> DeleteAsync(CallClient calls, string id, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, $"/api/sessions/{id}");
        if (token is not null)
        {
            request.Headers.Add("X-API-TOKEN", token);
        }

        return await calls.Http.SendAsync(request);
    }
}
