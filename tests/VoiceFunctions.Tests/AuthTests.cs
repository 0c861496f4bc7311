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

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
