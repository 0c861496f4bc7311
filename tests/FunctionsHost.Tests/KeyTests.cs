using System.Net;

namespace VoiceFunctions.FunctionsHost.Tests;

public sealed class KeyTests(KeysOnHost fixture) : IClassFixture<KeysOnHost>
{
    private readonly FunctionsHostEmulator host = fixture.Host;

    private async Task<HttpStatusCode> SendAsync(HttpMethod method, string relative, string? headerKey = null, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(host.BaseAddress, relative));
        if (method == HttpMethod.Post)
        {
            request.Content = content ?? new StringContent("""{"input": "body"}""", System.Text.Encoding.UTF8, "application/json");
        }

        if (headerKey is not null)
        {
            request.Headers.Add("x-functions-key", headerKey);
        }

        using var response = await TestWorker.Http.SendAsync(request);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            // Like the host: a 401 has no body.
            Assert.Equal("", await response.Content.ReadAsStringAsync());
        }

        return response.StatusCode;
    }

    [Fact]
    public async Task Anonymous_functions_need_no_key()
    {
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Get, "api/echo"));
    }

    [Fact]
    public async Task Function_level_needs_the_function_or_master_key_in_code_or_header()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Post, "api/items/1"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Post, "api/items/1?code=wrong"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Post, "api/items/1", headerKey: "wrong"));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Post, $"api/items/1?code={KeysOnHost.FunctionKey}"));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Post, "api/items/1", headerKey: KeysOnHost.FunctionKey));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Post, $"api/items/1?code={KeysOnHost.MasterKey}"));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Post, "api/items/1", headerKey: KeysOnHost.MasterKey));
    }

    [Fact]
    public async Task The_header_key_wins_over_code_even_when_it_is_wrong_or_empty()
    {
        // AuthenticationLevelHandler: a present x-functions-key header is the key; ?code is read only without it.
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Post, $"api/items/1?code={KeysOnHost.FunctionKey}", headerKey: "wrong"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Post, $"api/items/1?code={KeysOnHost.MasterKey}", headerKey: ""));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Post, "api/items/1?code=wrong", headerKey: KeysOnHost.FunctionKey));
    }

    [Fact]
    public async Task Admin_level_refuses_the_function_key_and_takes_the_master_key()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Delete, "api/items/1"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Delete, $"api/items/1?code={KeysOnHost.FunctionKey}"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Delete, "api/items/1", headerKey: KeysOnHost.FunctionKey));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Delete, $"api/items/1?code={KeysOnHost.MasterKey}"));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Delete, "api/items/1", headerKey: KeysOnHost.MasterKey));
    }

    [Fact]
    public async Task The_admin_invoke_endpoint_needs_the_master_key_and_runs_the_timer_function()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Post, "admin/functions/Tick"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Post, "admin/functions/Tick", headerKey: KeysOnHost.FunctionKey));
        Assert.Equal(HttpStatusCode.NotFound, await SendAsync(HttpMethod.Post, "admin/functions/NoSuchFunction", headerKey: KeysOnHost.MasterKey));

        // FunctionsController.Invoke binds [FromBody] FunctionInvocation first: not JSON → 415, no body or not an object → 400.
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, await SendAsync(HttpMethod.Post, "admin/functions/Tick", KeysOnHost.MasterKey, new StringContent("{}")));
        Assert.Equal(HttpStatusCode.BadRequest, await SendAsync(HttpMethod.Post, "admin/functions/Tick", KeysOnHost.MasterKey, new StringContent("", System.Text.Encoding.UTF8, "application/json")));
        Assert.Equal(HttpStatusCode.BadRequest, await SendAsync(HttpMethod.Post, "admin/functions/Tick", KeysOnHost.MasterKey, new StringContent("[1]", System.Text.Encoding.UTF8, "application/json")));
        Assert.Equal(HttpStatusCode.BadRequest, await SendAsync(HttpMethod.Post, "admin/functions/NoSuchFunction", KeysOnHost.MasterKey, new StringContent("{", System.Text.Encoding.UTF8, "application/json")));
        Assert.Empty(Directory.GetFiles(fixture.MarkerFolder, "tick-*"));

        Assert.Equal(HttpStatusCode.Accepted, await SendAsync(HttpMethod.Post, "admin/functions/Tick", headerKey: KeysOnHost.MasterKey));
        // Timers are off on this host: the only marker is the one this call wrote.
        Assert.True(
            await TestWorker.EventuallyAsync(() => Directory.GetFiles(fixture.MarkerFolder, "tick-*").Length == 1, TimeSpan.FromSeconds(10)),
            host.Output);
    }
}
