using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using VoiceFunctions.AiFlow;

namespace VoiceFunctions.Tests.Infrastructure;

/// <summary>Plays sipgate AI Flow against the webhook over HTTP.</summary>
public sealed class CallClient(HttpClient http) : IDisposable
{
    public HttpClient Http => http;

    public static string NewSessionId() => Guid.NewGuid().ToString();

    public static JsonObject Session(string id, string? to = null, string? phoneNumber = "+4921100000001", string? from = "+491701234567") => new()
    {
        ["id"] = id,
        ["account_id"] = "test-account",
        ["phone_number"] = phoneNumber,
        ["direction"] = "inbound",
        ["from_phone_number"] = from,
        ["to_phone_number"] = to,
    };

    public static JsonObject Event(string type, string id, string? to = null, JsonObject? fields = null)
    {
        var evt = new JsonObject { ["type"] = type, ["session"] = Session(id, to) };
        foreach (var (key, value) in fields ?? [])
        {
            evt[key] = value?.DeepClone();
        }

        return evt;
    }

    public Task<HttpResponseMessage> PostAsync(JsonNode evt, string? token = null) => PostRawAsync(evt.ToJsonString(), "application/json", token);

    public async Task<HttpResponseMessage> PostRawAsync(string body, string? contentType, string? token = null) =>
        await PostBytesAsync(Encoding.UTF8.GetBytes(body), contentType, token).ConfigureAwait(false);

    public async Task<HttpResponseMessage> PostBytesAsync(byte[] body, string? contentType, string? token = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/events") { Content = new ByteArrayContent(body) };
        if (contentType is not null)
        {
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        if (token is not null)
        {
            request.Headers.Add("X-API-TOKEN", token);
        }

        return await http.SendAsync(request).ConfigureAwait(false);
    }

    /// <summary>Posts an event and returns the actions, each checked against the protocol; 204 gives none.</summary>
    public async Task<IReadOnlyList<AiFlowAction>> SendAsync(JsonNode evt, string? token = null)
    {
        using var response = await PostAsync(evt, token).ConfigureAwait(false);
        return await ActionsAsync(response).ConfigureAwait(false);
    }

    public static async Task<IReadOnlyList<AiFlowAction>> ActionsAsync(HttpResponseMessage response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.StatusCode == HttpStatusCode.NoContent)
        {
            Assert.Empty(await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false));
            return [];
        }

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var actions = AiFlowJson.Deserialize(await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false));
        foreach (var action in actions)
        {
            Assert.Empty(ActionValidator.Validate(action));
        }

        return actions;
    }

    public Task<IReadOnlyList<AiFlowAction>> StartAsync(string id, string? to = null) => SendAsync(Event("session_start", id, to));

    public Task<IReadOnlyList<AiFlowAction>> SayAsync(string id, string text, bool? bargedIn = null) =>
        SendAsync(Event("user_speak", id, fields: new JsonObject { ["text"] = text, ["barged_in"] = bargedIn }));

    public Task<IReadOnlyList<AiFlowAction>> PressAsync(string id, string digit) =>
        SendAsync(Event("dtmf_received", id, fields: new JsonObject { ["digit"] = digit }));

    public Task<IReadOnlyList<AiFlowAction>> EndAsync(string id) => SendAsync(Event("session_end", id));

    public async Task<HttpResponseMessage> GetSessionResponseAsync(string id, string? token = null, string? query = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/sessions/{id}{query}");
        if (token is not null)
        {
            request.Headers.Add("X-API-TOKEN", token);
        }

        return await http.SendAsync(request).ConfigureAwait(false);
    }

    /// <summary>One page of the read-back, as sent; <paramref name="continuation"/> is the previous page's <c>next</c>.</summary>
    public async Task<JsonElement> GetSessionPageAsync(string id, int? limit = null, string? continuation = null, string? token = null)
    {
        var query = new List<string>();
        if (limit is { } l)
        {
            query.Add($"limit={l}");
        }

        if (continuation is not null)
        {
            query.Add($"continuation={Uri.EscapeDataString(continuation)}");
        }

        using var response = await GetSessionResponseAsync(id, token, query.Count == 0 ? null : "?" + string.Join('&', query)).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"page of {id}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>The stored session as the operator sees it: the first page with the trace of every later page appended.</summary>
    public async Task<JsonElement> GetSessionAsync(string id, string? token = null)
    {
        using var response = await GetSessionResponseAsync(id, token).ConfigureAwait(false);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await WholeCallAsync(id, response, token).ConfigureAwait(false);
    }

    /// <summary>Follows the first page's <c>next</c> tokens to the last page; the result has the whole trace and no <c>next</c>.</summary>
    private async Task<JsonElement> WholeCallAsync(string id, HttpResponseMessage firstPage, string? token)
    {
        var session = JsonNode.Parse(await firstPage.Content.ReadAsStringAsync().ConfigureAwait(false))!.AsObject();
        var trace = session["trace"]!.AsArray();
        var next = session["next"]?.GetValue<string>();
        session.Remove("next");
        while (next is not null)
        {
            var page = await GetSessionPageAsync(id, continuation: next, token: token).ConfigureAwait(false);
            foreach (var row in page.GetProperty("trace").EnumerateArray())
            {
                trace.Add(JsonNode.Parse(row.GetRawText()));
            }

            next = page.TryGetProperty("next", out var more) ? more.GetString() : null;
        }

        return JsonDocument.Parse(session.ToJsonString()).RootElement.Clone();
    }

    /// <summary>Polls the stored session until <paramref name="done"/> holds (recording may finish after the answer).</summary>
    public async Task<JsonElement> WaitForSessionAsync(string id, Func<JsonElement, bool> done, TimeSpan? timeout = null, string? token = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            using var response = await GetSessionResponseAsync(id, token).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var session = await WholeCallAsync(id, response, token).ConfigureAwait(false);
                if (done(session) || clock.Elapsed > (timeout ?? TimeSpan.FromSeconds(15)))
                {
                    return session;
                }
            }
            else if (clock.Elapsed > (timeout ?? TimeSpan.FromSeconds(15)))
            {
                Assert.Fail($"session {id} not readable: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync().ConfigureAwait(false)}");
            }

            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    public void Dispose() => http.Dispose();
}

public static class ProblemAssert
{
    /// <summary>A 4xx problem+json with the given type whose detail says what is wrong.</summary>
    public static async Task IsProblemAsync(HttpResponseMessage response, int status, string type, string? detailContains = null)
    {
        ArgumentNullException.ThrowIfNull(response);
        var body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        Assert.True(status == (int)response.StatusCode, $"expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        Assert.Equal(type, problem.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()));
        if (detailContains is not null)
        {
            Assert.Contains(detailContains, problem.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
        }

        Assert.DoesNotContain("   at ", body, StringComparison.Ordinal);
    }
}
