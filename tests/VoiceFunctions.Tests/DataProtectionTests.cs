using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>Transcripts are personal data: retention, erasure, and nothing personal or secret in logs or errors.</summary>
public sealed class DataProtectionTests(Azurite azurite)
{
    private const string Token = "data-protection-test-token";

    [Fact]
    public async Task The_timer_function_purges_sessions_older_than_the_retention_in_bounded_batches()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 9, 0, 0, TimeSpan.Zero));
        await using var app = new WebhookApp(azurite, new Dictionary<string, string?>
        {
            ["SessionStore:TableName"] = "Retention" + Guid.NewGuid().ToString("N")[..8],
            ["Retention:Days"] = "30",
            ["Retention:BatchSize"] = "2",
        })
        { TestServices = services => services.AddSingleton<TimeProvider>(clock) };
        using var calls = app.Calls();
        var old = new[] { CallClient.NewSessionId(), CallClient.NewSessionId(), CallClient.NewSessionId() };
        foreach (var id in old)
        {
            await calls.StartAsync(id);
            await calls.SayAsync(id, "an old call");
        }

        clock.Advance(TimeSpan.FromDays(20));
        var recent = CallClient.NewSessionId();
        await calls.StartAsync(recent);
        clock.Advance(TimeSpan.FromDays(15)); // old calls are now 35 days old, the recent one 15

        var first = await InvokeTimerAsync(calls);
        var second = await InvokeTimerAsync(calls);
        var third = await InvokeTimerAsync(calls);

        Assert.Contains("Purged 2 sessions", first, StringComparison.Ordinal);
        Assert.Contains("more left", first, StringComparison.Ordinal);
        Assert.Contains("Purged 1 sessions", second, StringComparison.Ordinal);
        Assert.Contains("Purged 0 sessions", third, StringComparison.Ordinal);
        foreach (var id in old)
        {
            using var gone = await calls.GetSessionResponseAsync(id);
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        Assert.Equal("voice_to_voice", (await calls.GetSessionAsync(recent)).GetProperty("mode").GetString());
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

        // A later event for the erased call starts a fresh record rather than resurrecting the old one.
        await calls.SendAsync(CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = "after erasure" }), Token);
        Assert.Single((await calls.GetSessionAsync(id, Token)).GetProperty("trace").EnumerateArray());
    }

    [Fact]
    public async Task The_timer_endpoint_is_not_served_to_other_hosts_and_is_outside_the_api_prefix()
    {
        await using var app = new WebhookApp(azurite);
        using var calls = app.Calls();

        using var viaApi = await calls.Http.PostAsync(new Uri("/api/RetentionPurge", UriKind.Relative), new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.NotFound, viaApi.StatusCode);
    }

    [Fact]
    public async Task Logs_never_hold_caller_text_or_the_token_even_when_storage_fails()
    {
        var logs = new LogCapture();
        var storage = new Azurite { DataFolder = Path.Combine(Path.GetTempPath(), "voicefunctions-logs-" + Guid.NewGuid().ToString("N")) };
        await storage.InitializeAsync();
        try
        {
            await using var app = new WebhookApp(storage, new Dictionary<string, string?> { ["AiFlow:ApiToken"] = Token })
            {
                TestServices = services => services.AddSingleton<ILoggerProvider>(logs),
            };
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

    private static async Task<string> InvokeTimerAsync(CallClient calls)
    {
        // The Functions host's timer invocation: POST /{functionName} with Data and Metadata.
        const string payload = """{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"RetentionPurge","UtcNow":"2026-02-05T03:00:00Z"}}}""";
        using var response = await calls.Http.PostAsync(new Uri("/RetentionPurge", UriKind.Relative), new StringContent(payload, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(JsonValueKind.Object, result.GetProperty("Outputs").ValueKind);
        Assert.Equal(JsonValueKind.Null, result.GetProperty("ReturnValue").ValueKind);
        return Assert.Single(result.GetProperty("Logs").EnumerateArray()).GetString()!;
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

    /// <summary>Every log line the app writes, at every level, with its arguments formatted.</summary>
    private sealed class LogCapture : ILoggerProvider
    {
        private readonly List<string> _lines = [];

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_lines)
                {
                    return [.. _lines];
                }
            }
        }

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(LogCapture capture) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (capture._lines)
                {
                    capture._lines.Add($"{logLevel} {formatter(state, exception)} {exception}");
                }
            }
        }
    }
}
