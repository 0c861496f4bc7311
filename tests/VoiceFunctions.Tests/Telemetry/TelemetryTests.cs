using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ApplicationInsights;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenTelemetry.Trace;
using VoiceFunctions.Calls;
using VoiceFunctions.Telemetry;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Telemetry;

/// <summary>
/// What would reach Application Insights for a whole call, captured on a loopback ingestion endpoint: the
/// published worker runs under the host emulator against Azurite, its Azure Monitor exporter posts to
/// <see cref="IngestionCapture"/>. Nothing is flushed by hand: the host stopping the worker must send what is buffered.
/// </summary>
[Collection(TelemetryRunsAlone.Name)]
public sealed class TelemetryTests(Azurite azurite)
{
    private const string SmallTalk = "Hello, my date of birth is 1 May 1980";
    private const string AskForHuman = "Can I talk to a human please";
    private static readonly string[] SuccessCodes = ["200", "204"];

    [Fact]
    public async Task A_whole_call_arrives_as_requests_dependencies_and_ordered_events_under_one_session_id()
    {
        await using var capture = new IngestionCapture();
        var id = CallClient.NewSessionId();
        await PlayCallAsync(capture.Settings, id);
        await capture.WaitForAsync(all => all.Count(e => (string?)e["data"]?["baseType"] == "EventData" && Dim(e, "SessionId") == id) >= 7, TimeSpan.FromSeconds(10));

        var requests = capture.OfType("RequestData").Where(r => Dim(r, "SessionId") == id).ToList();
        Assert.Equal(["session_start", "user_speak", "user_speak", "session_end"], requests.OrderBy(Time).Select(r => Dim(r, "EventType")));
        Assert.All(requests, r =>
        {
            Assert.True(Guid.TryParse(Dim(r, "InvocationId"), out _), $"invocation id {Dim(r, "InvocationId")}");
            Assert.Contains((string?)r["data"]!["baseData"]!["responseCode"], SuccessCodes);
            Assert.Equal(true, (bool?)r["data"]!["baseData"]!["success"]);
        });
        Assert.Equal(4, requests.Select(r => Dim(r, "InvocationId")).Distinct().Count());

        // Each request record continues the trace the host passed with its invocation (W3C traceparent).
        Assert.Equal(requests.Count, requests.Select(OperationId).Distinct().Count());
        Assert.All(requests, r => Assert.Matches("^[0-9a-f]{32}$", OperationId(r)));
        Assert.All(requests, r => Assert.Contains(OperationId(r), TraceIds.Keys));

        // Table Storage calls are dependencies of the request that made them.
        var operations = requests.ToDictionary(OperationId, r => r);
        var dependencies = capture.OfType("RemoteDependencyData").Where(d => operations.ContainsKey(OperationId(d))).ToList();
        Assert.NotEmpty(dependencies);
        Assert.All(operations.Keys, op => Assert.Contains(dependencies, d => OperationId(d) == op));
        Assert.Contains(dependencies, d => ((string?)d["data"]!["baseData"]!["target"] ?? string.Empty).Contains($"127.0.0.1:{azurite.Port}", StringComparison.Ordinal));

        // One filter on the session id gives the whole call, in order, each event inside its request.
        var events = capture.OfType("EventData").Where(e => Dim(e, "SessionId") == id).OrderBy(e => long.Parse(Dim(e, "Seq")!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(
            ["ModeChanged", "SessionStarted", "CallerTurn", "CallerTurn", "Escalation", "ModeChanged", "SessionEnded"],
            events.Select(e => (string?)e["data"]!["baseData"]!["name"]));
        Assert.Equal(events.Select(Time).Order(), events.Select(Time));
        foreach (var e in events)
        {
            var request = operations[OperationId(e)];
            Assert.Equal(Dim(e, "EventType"), Dim(request, "EventType"));
            Assert.Equal((string?)request["data"]!["baseData"]!["id"], (string?)e["tags"]!["ai.operation.parentId"]);
            Assert.Equal("true", Dim(e, "Stored"));
        }

        Assert.Equal(("voice_to_voice", "session_start"), (Dim(events[0], "To"), Dim(events[0], "Reason")));
        Assert.Equal(("voice_to_voice", "pipeline", "escalation_keyword"), (Dim(events[5], "From"), Dim(events[5], "To"), Dim(events[5], "Reason")));
        Assert.Equal("keyword:human", Dim(events[4], "Trigger"));
        Assert.Equal(("2", "true"), (Dim(events[6], "Turns"), Dim(events[6], "Escalated")));

        // The caller's words: length and keyed hash only, and never anywhere in what was sent.
        var turns = events.Where(e => (string?)e["data"]!["baseData"]!["name"] == "CallerTurn").ToList();
        Assert.Equal([SmallTalk.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), AskForHuman.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)], turns.Select(t => Dim(t, "TextLength")));
        Assert.All(turns, t => Assert.Matches("^[0-9a-f]{16}$", Dim(t, "TextHash")));
        Assert.NotEqual(Dim(turns[0], "TextHash"), Dim(turns[1], "TextHash"));
        Assert.All(turns, t => Assert.Null(Dim(t, "Text")));
        Assert.DoesNotContain("1 May 1980", capture.Raw, StringComparison.Ordinal);
        Assert.DoesNotContain("talk to a human", capture.Raw, StringComparison.Ordinal);
    }

    /// <summary>
    /// What docs/kql/call-timeline.kql (the workbook's call timeline) needs, on the records of one whole call with an
    /// escalation: the operations found by <c>SessionId</c> on requests and custom events hold every record of the
    /// call; events carry EventType and Seq, mode changes From/To and Reason, requests their duration and EventType.
    /// </summary>
    [Fact]
    public async Task The_call_timeline_query_finds_everything_it_shows_for_one_call()
    {
        await using var capture = new IngestionCapture();
        var id = CallClient.NewSessionId();
        await PlayCallAsync(capture.Settings, id);
        await capture.WaitForAsync(all => all.Count(e => (string?)e["data"]?["baseType"] == "EventData" && Dim(e, "SessionId") == id) >= 7, TimeSpan.FromSeconds(10));

        // let operations = union requests, customEvents | where SessionId == sessionId | distinct operation_Id
        var operations = capture.Envelopes
            .Where(e => (string?)e["data"]?["baseType"] is "RequestData" or "EventData" && Dim(e, "SessionId") == id)
            .Select(OperationId).ToHashSet();
        var timeline = capture.Envelopes.Where(e => operations.Contains(OperationId(e))).ToList();

        Assert.Equal(4, operations.Count); // one per event of the call
        var requests = timeline.Where(e => (string?)e["data"]!["baseType"] == "RequestData").ToList();
        Assert.Equal(4, requests.Count);
        Assert.All(requests, r =>
        {
            Assert.NotNull(Dim(r, "EventType"));
            Assert.True(TimeSpan.TryParse((string?)r["data"]!["baseData"]!["duration"], System.Globalization.CultureInfo.InvariantCulture, out _), "request duration");
        });
        var events = timeline.Where(e => (string?)e["data"]!["baseType"] == "EventData").ToList();
        Assert.All(events, e =>
        {
            Assert.True(long.TryParse(Dim(e, "Seq"), System.Globalization.CultureInfo.InvariantCulture, out _), "Seq");
            Assert.NotNull(Dim(e, "EventType"));
            Assert.NotNull(e["time"]);
        });
        var names = events.Select(e => (string?)e["data"]!["baseData"]!["name"]).ToList();
        Assert.Contains("Escalation", names);
        var modeChanges = events.Where(e => (string?)e["data"]!["baseData"]!["name"] == "ModeChanged").ToList();
        Assert.Equal(2, modeChanges.Count);
        Assert.All(modeChanges, m =>
        {
            Assert.NotNull(Dim(m, "To"));
            Assert.NotNull(Dim(m, "Reason"));
        });
        Assert.Contains(modeChanges, m => Dim(m, "From") == "voice_to_voice" && Dim(m, "To") == "pipeline");
        Assert.Contains(timeline, e => (string?)e["data"]!["baseType"] == "RemoteDependencyData"); // the Table calls of the call
    }

    [Fact]
    public async Task The_transcript_is_sent_only_when_enabled()
    {
        await using var capture = new IngestionCapture();
        var id = CallClient.NewSessionId();
        var settings = new Dictionary<string, string?>(capture.Settings) { ["Telemetry:IncludeTranscripts"] = "true" };
        await PlayCallAsync(settings, id);
        await capture.WaitForAsync(all => all.Count(e => (string?)e["data"]?["baseType"] == "EventData" && Dim(e, "SessionId") == id) >= 7, TimeSpan.FromSeconds(10));

        var turns = capture.OfType("EventData").Where(e => Dim(e, "SessionId") == id && (string?)e["data"]!["baseData"]!["name"] == "CallerTurn").ToList();
        Assert.Equal([SmallTalk, AskForHuman], turns.OrderBy(t => Dim(t, "Seq")).Select(t => Dim(t, "Text")));
    }

    [Fact]
    public async Task The_workers_information_logs_reach_application_insights_with_the_invocation()
    {
        await using var capture = new IngestionCapture();
        var app = new WebhookApp(azurite, capture.Settings);
        try
        {
            Assert.True((await app.InvokeAsync("RetentionPurge")).Succeeded);
        }
        finally
        {
            await app.DisposeAsync();
        }

        await capture.WaitForAsync(all => all.Any(IsRetentionLog), TimeSpan.FromSeconds(10));
        var record = capture.Envelopes.First(IsRetentionLog);
        Assert.Equal("Information", (string?)record["data"]!["baseData"]!["severityLevel"]);
        Assert.True(Guid.TryParse(Dim(record, "InvocationId"), out _), "the invocation id is on the log record's scope");
    }

    /// <summary>
    /// Issue 19, item 2: in Azure the host writes each log the worker sends during an invocation to Application
    /// Insights a second time unless the worker advertises WorkerApplicationInsightsLoggingEnabled in its
    /// worker_init_response (azure-functions-host GrpcWorkerChannel, commit 89dc438d). With telemetry on the worker
    /// advertises it; with telemetry off it must not (the host's copy would be dropped and nothing else sends it).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_worker_tells_the_host_not_to_write_its_logs_to_application_insights_a_second_time(bool telemetryOn)
    {
        const string HostCapability = "WorkerApplicationInsightsLoggingEnabled"; // RpcWorkerConstants in the host
        await using var capture = new IngestionCapture();
        await using var app = new WebhookApp(azurite, telemetryOn ? capture.Settings : null);
        await app.StartAsync();

        var capabilities = app.Host.WorkerCapabilities;
        if (telemetryOn)
        {
            Assert.True(capabilities.TryGetValue(HostCapability, out var value) && bool.TryParse(value, out var on) && on, string.Join(", ", capabilities.Keys));
        }
        else
        {
            Assert.False(capabilities.ContainsKey(HostCapability));
        }
    }

    /// <summary>
    /// Issue 19, item 4: the host gives the worker 5 s after WorkerTerminate, then kills it. With ingestion hanging,
    /// the telemetry flush waited 5 s per provider (and disposal as long again): the worker was killed. Now the
    /// recordings are drained first and the flush gets what is left of one budget, so the worker ends by itself.
    /// </summary>
    [Fact]
    public async Task With_ingestion_hanging_a_graceful_stop_still_ends_the_worker_within_the_hosts_grace_period()
    {
        await using var capture = new IngestionCapture { Stalled = true };
        var id = CallClient.NewSessionId();
        var app = new WebhookApp(azurite, capture.Settings);
        try
        {
            using var calls = app.Calls();
            await SendAsync(calls, CallClient.Event("session_start", id));
            await SendAsync(calls, CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = SmallTalk }));

            // The call was recorded before the stop: draining first means no step is lost to the flush.
            Assert.True((await calls.GetSessionAsync(id)).GetProperty("trace").GetArrayLength() >= 2);
        }
        finally
        {
            await app.DisposeAsync();
        }

        Assert.DoesNotContain("did not exit within the grace period", app.Output, StringComparison.Ordinal);
        Assert.Equal(0, app.Host.WorkerExitCode);
    }

    /// <summary>Issue 15, item 7: a value from a request is escaped and bounded in a dimension; an unknown type is not sent at all.</summary>
    [Fact]
    public async Task Request_values_reach_application_insights_escaped_and_an_unknown_type_not_at_all()
    {
        await using var capture = new IngestionCapture();
        var id = CallClient.NewSessionId();
        var app = new WebhookApp(azurite, capture.Settings);
        try
        {
            using var calls = app.Calls();
            await SendAsync(calls, CallClient.Event("session_start", id));
            await SendAsync(calls, CallClient.Event("mallory@example.com\u001b[2J", id));
            await SendAsync(calls, CallClient.Event("session_end", id, fields: new JsonObject { ["reason"] = "hangup\u001b[31m\nFORGED" + new string('x', 200) }));
        }
        finally
        {
            await app.DisposeAsync();
        }

        bool Ended(JsonObject e) => (string?)e["data"]?["baseData"]?["name"] == "SessionEnded" && Dim(e, "SessionId") == id;
        bool UnknownType(JsonObject e) => ((string?)e["data"]?["baseData"]?["message"] ?? string.Empty).StartsWith("Unknown event type (length 23,", StringComparison.Ordinal);
        await capture.WaitForAsync(all => all.Any(Ended) && all.Any(UnknownType), TimeSpan.FromSeconds(10));

        var reason = Dim(capture.OfType("EventData").Single(Ended), "Reason")!;
        Assert.StartsWith(@"hangup\u001B[31m\u000AFORGED", reason, StringComparison.Ordinal);
        Assert.EndsWith("x…(+154)", reason, StringComparison.Ordinal);
        Assert.DoesNotContain(reason, char.IsControl);
        Assert.DoesNotContain("mallory", capture.Raw, StringComparison.Ordinal);
    }

    private static bool IsRetentionLog(JsonObject envelope) =>
        (string?)envelope["data"]?["baseType"] == "MessageData" &&
        ((string?)envelope["data"]?["baseData"]?["message"] ?? string.Empty).StartsWith("Retention run: purged", StringComparison.Ordinal);

    [Fact]
    public void Without_a_connection_string_no_exporter_is_registered()
    {
        var services = new ServiceCollection();
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build();
        services.AddLogging();
        services.AddCallTelemetry(configuration);
        using var provider = services.BuildServiceProvider();

        Assert.Null(provider.GetService<TelemetryClient>());
        Assert.Null(provider.GetService<TracerProvider>());
        Assert.DoesNotContain(provider.GetServices<Microsoft.Extensions.Hosting.IHostedService>(), s => s.GetType().Namespace?.StartsWith("Azure.Monitor", StringComparison.Ordinal) == true);
        Assert.NotNull(provider.GetRequiredService<CallTelemetry>());
    }

    [Fact]
    public void The_transcript_hash_is_an_hmac_keyed_by_the_setting()
    {
        const string key = "0123456789abcdef-test-key";
        var keyed = new TranscriptFingerprint(Options.Create(new TelemetryOptions { TranscriptHashKey = key }));
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes("yes"))[..8]);

        Assert.True(keyed.IsStable);
        Assert.Equal(expected, keyed.Of("yes"));
        Assert.NotEqual(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("yes"u8)[..8]), keyed.Of("yes"));
        Assert.Equal(keyed.Of("caf\u00e9"), keyed.Of("cafe\u0301")); // NFC: the same words hash alike
        Assert.False(new TranscriptFingerprint(Options.Create(new TelemetryOptions())).IsStable);
    }

    [Theory]
    [InlineData("Authorization=AAD", true)]
    [InlineData("ClientId=00000000-0000-0000-0000-000000000001;Authorization=AAD", true)]
    [InlineData(" authorization = aad ; clientid = x ", true)]
    [InlineData("ClientId=00000000-0000-0000-0000-000000000001", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Entra_id_auth_follows_the_authentication_string(string? value, bool entra)
    {
        Assert.Equal(entra, TelemetryRegistration.Credential(value) is Azure.Identity.ManagedIdentityCredential);
    }

    /// <summary>
    /// Pipeline replies (issue 12) arrive as <c>AssistantReply</c> events with their source, the model's latency and
    /// token counts, and without the words (transcripts off). The model is the loopback stand-in.
    /// </summary>
    [Fact]
    public async Task Pipeline_replies_arrive_as_assistant_reply_events_with_latency_and_tokens_but_no_text()
    {
        await using var capture = new IngestionCapture();
        await using var model = await StandInModel.StartAsync();
        model.Script = r => r.LastUserText == "slow" ? ModelBehaviour.Reply("Slow reply words.", 1500) : ModelBehaviour.Reply("Quick reply words.");
        var settings = new Dictionary<string, string?>(capture.Settings)
        {
            ["Calls:ResponseBudget"] = "00:00:00.800",
            ["ChatModel:Endpoint"] = model.Endpoint.ToString(),
            ["ChatModel:Deployment"] = "standin",
        };
        var id = CallClient.NewSessionId();
        var app = new WebhookApp(azurite, settings);
        try
        {
            using var calls = app.Calls();
            await SendAsync(calls, CallClient.Event("session_start", id, TestPersonas.GatedNumber));
            await SendAsync(calls, CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = "quick" }));
            await SendAsync(calls, CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = "slow" }));
            await calls.WaitForSessionAsync(id, s => s.GetProperty("trace").EnumerateArray().Any(t => t.TryGetProperty("detail", out var d) && d.GetString() == "model:late"));
        }
        finally
        {
            await app.DisposeAsync();
        }

        await capture.WaitForAsync(all => all.Count(e => (string?)e["data"]?["baseData"]?["name"] == "AssistantReply" && Dim(e, "SessionId") == id) >= 3, TimeSpan.FromSeconds(10));
        var replies = capture.OfType("EventData").Where(e => (string?)e["data"]!["baseData"]!["name"] == "AssistantReply" && Dim(e, "SessionId") == id)
            .OrderBy(e => long.Parse(Dim(e, "Seq")!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(["model", "filler", "model:late"], replies.Select(r => Dim(r, "Source")));
        foreach (var reply in replies.Where(r => Dim(r, "Source")!.StartsWith("model", StringComparison.Ordinal)))
        {
            Assert.True(long.Parse(Dim(reply, "LatencyMs")!, System.Globalization.CultureInfo.InvariantCulture) >= 0);
            Assert.True(long.Parse(Dim(reply, "InputTokens")!, System.Globalization.CultureInfo.InvariantCulture) > 0);
            Assert.True(long.Parse(Dim(reply, "OutputTokens")!, System.Globalization.CultureInfo.InvariantCulture) > 0);
            Assert.Null(Dim(reply, "Text"));
        }

        Assert.True(long.Parse(Dim(replies[2], "LatencyMs")!, System.Globalization.CultureInfo.InvariantCulture) >= 1500);
        Assert.Null(Dim(replies[1], "LatencyMs")); // the filler is not a model answer
        Assert.DoesNotContain("reply words", capture.Raw, StringComparison.Ordinal);
    }

    /// <summary>The trace ids sent as each request's traceparent (the host's trace context).</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> TraceIds = new();

    /// <summary>A call with an escalation, each event its own invocation; then the host stops the worker gracefully.</summary>
    private async Task PlayCallAsync(IReadOnlyDictionary<string, string?> settings, string id)
    {
        // These tests look at what is exported, not at the deadline (WebhookApp's 5 s budget).
        var app = new WebhookApp(azurite, settings);
        try
        {
            using var calls = app.Calls();
            await SendAsync(calls, CallClient.Event("session_start", id));
            await SendAsync(calls, CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = SmallTalk }));
            await SendAsync(calls, CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = AskForHuman }));
            await SendAsync(calls, CallClient.Event("session_end", id));
        }
        finally
        {
            // No flush by hand: the graceful stop must send everything.
            await app.DisposeAsync();
        }
    }

    private static async Task SendAsync(CallClient calls, JsonObject evt)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/events") { Content = new StringContent(evt.ToJsonString(), Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var traceId = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        TraceIds[traceId] = true;
        request.Headers.Add("traceparent", $"00-{traceId}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8))}-01");
        using var response = await calls.Http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}");
    }

    private static string? Dim(JsonObject envelope, string key) => (string?)envelope["data"]?["baseData"]?["properties"]?[key];

    private static string OperationId(JsonObject envelope) => (string?)envelope["tags"]?["ai.operation.id"] ?? string.Empty;

    private static DateTimeOffset Time(JsonObject envelope) => DateTimeOffset.Parse((string)envelope["time"]!, System.Globalization.CultureInfo.InvariantCulture);
}
