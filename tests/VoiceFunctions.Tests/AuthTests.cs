using System.Net;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>With AiFlow:ApiToken set, every /api request needs it in X-API-TOKEN (one filter for all endpoints).</summary>
public sealed class AuthTests(Azurite azurite) : IAsyncDisposable
{
    private const string Token = "s3cret-t0ken-for-tests";
    private readonly WebhookApp _app = new(azurite, new Dictionary<string, string?> { ["AiFlow:ApiToken"] = Token });

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("wrong")]
    [InlineData(Token + "x")]
    [InlineData("s3cret-t0ken-for-test")]
    public async Task Events_without_the_right_token_are_401_and_write_nothing(string? token)
    {
        using var calls = _app.Calls();
        var id = CallClient.NewSessionId();

        using var response = await calls.PostAsync(CallClient.Event("session_start", id), token);

        await ProblemAssert.IsProblemAsync(response, 401, "urn:voicefunctions:problem:unauthorized", "X-API-TOKEN");
        Assert.DoesNotContain(Token, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var stored = await calls.GetSessionResponseAsync(id, Token);
        Assert.Equal(HttpStatusCode.NotFound, stored.StatusCode);
    }

    [Fact]
    public async Task The_token_is_checked_before_the_body_so_bad_bodies_do_not_leak_validation_details()
    {
        using var calls = _app.Calls();

        using var response = await calls.PostRawAsync("{not json", "application/json", token: null);

        await ProblemAssert.IsProblemAsync(response, 401, "urn:voicefunctions:problem:unauthorized");
    }

    [Fact]
    public async Task The_right_token_is_accepted_for_events_and_session_reads()
    {
        using var calls = _app.Calls();
        var id = CallClient.NewSessionId();

        var actions = await calls.SendAsync(CallClient.Event("session_start", id), Token);

        Assert.Single(actions);
        using var unauthorizedRead = await calls.GetSessionResponseAsync(id);
        await ProblemAssert.IsProblemAsync(unauthorizedRead, 401, "urn:voicefunctions:problem:unauthorized");
        Assert.Equal("voice_to_voice", (await calls.GetSessionAsync(id, Token)).GetProperty("mode").GetString());
    }

    [Fact]
    public async Task With_host_keys_on_events_need_the_function_key_and_reading_or_erasing_a_call_the_admin_key()
    {
        await using var app = new WebhookApp(azurite) { EnforceKeys = true };
        await app.StartAsync();
        using var anonymous = new HttpClient { BaseAddress = app.Host.BaseAddress };
        using var withFunctionKey = Client(app, WebhookApp.FunctionKey);
        using var withMasterKey = Client(app, WebhookApp.MasterKey);
        var id = CallClient.NewSessionId();

        using var noKey = await anonymous.PostAsync(new Uri("/api/events", UriKind.Relative), Json(CallClient.Event("session_start", id)));
        using var wrongKey = await anonymous.PostAsync(new Uri("/api/events?code=not-the-key", UriKind.Relative), Json(CallClient.Event("session_start", id)));
        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongKey.StatusCode);
        using var notStored = await withMasterKey.GetAsync(new Uri($"/api/sessions/{id}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, notStored.StatusCode); // nothing was written by the refused requests

        using var viaCode = await anonymous.PostAsync(new Uri($"/api/events?code={WebhookApp.FunctionKey}", UriKind.Relative), Json(CallClient.Event("session_start", id)));
        using var viaHeader = await withFunctionKey.PostAsync(new Uri("/api/events", UriKind.Relative), Json(CallClient.Event("user_speak", id, fields: new() { ["text"] = "hello" })));
        Assert.Equal(HttpStatusCode.OK, viaCode.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, viaHeader.StatusCode);
        // The webhook's credentials (function key + token, both in sipgate's dashboard) cannot read a transcript.
        using var readWithFunctionKey = await withFunctionKey.GetAsync(new Uri($"/api/sessions/{id}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, readWithFunctionKey.StatusCode);
        Assert.DoesNotContain("hello", await readWithFunctionKey.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var read = await withMasterKey.GetAsync(new Uri($"/api/sessions/{id}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Contains("hello", await read.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var eraseWithFunctionKey = await withFunctionKey.DeleteAsync(new Uri($"/api/sessions/{id}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, eraseWithFunctionKey.StatusCode);
        using var stillThere = await withMasterKey.GetAsync(new Uri($"/api/sessions/{id}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, stillThere.StatusCode);

        using var eraseWithMasterKey = await withMasterKey.DeleteAsync(new Uri($"/api/sessions/{id}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NoContent, eraseWithMasterKey.StatusCode);
        using var gone = await withMasterKey.GetAsync(new Uri($"/api/sessions/{id}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    private static HttpClient Client(WebhookApp app, string key)
    {
        var http = new HttpClient { BaseAddress = app.Host.BaseAddress };
        http.DefaultRequestHeaders.Add("x-functions-key", key);
        return http;
    }

    private static StringContent Json(System.Text.Json.Nodes.JsonNode evt) => new(evt.ToJsonString(), System.Text.Encoding.UTF8, "application/json");

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
