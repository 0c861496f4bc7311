using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace VoiceFunctions.FunctionsHost.Tests;

public sealed class HttpTests(KeysOffHost fixture) : IClassFixture<KeysOffHost>
{
    private readonly FunctionsHostEmulator host = fixture.Host;

    private Uri Url(string relative) => new(host.BaseAddress, relative);

    [Fact]
    public void Every_function_is_loaded_with_its_metadata()
    {
        Assert.Equal(
            ["DeleteItem", "Die", "Echo", "Lines", "Metadata", "NoContent", "PostItem", "Setting", "Slow", "Throws", "ThrowsAfterWriting", "Tick", "Trace", "Wait"],
            host.Functions.Select(f => f.Name).Where(name => !name.StartsWith("Twin", StringComparison.Ordinal)).Order(StringComparer.Ordinal));

        var echo = host.Functions.Single(f => f.Name == "Echo");
        Assert.Equal("httpTrigger", echo.TriggerType);
        Assert.Equal("echo", echo.Route);
        Assert.Equal(["get"], echo.Methods!);
        Assert.Equal("anonymous", echo.AuthLevel);

        var post = host.Functions.Single(f => f.Name == "PostItem");
        Assert.Equal("items/{id}", post.Route);
        Assert.Equal(["post"], post.Methods!);
        Assert.Equal("function", post.AuthLevel);
        Assert.Equal("admin", host.Functions.Single(f => f.Name == "DeleteItem").AuthLevel);

        var tick = host.Functions.Single(f => f.Name == "Tick");
        Assert.Equal("timerTrigger", tick.TriggerType);
        Assert.Equal("%TestTimerSchedule%", tick.Schedule);
        Assert.Equal("*/5 * * * * *", tick.ResolvedSchedule);

        Assert.Equal("api", host.RoutePrefix);
        Assert.Equal("127.0.0.1", host.BaseAddress.Host);
        Assert.False(host.WorkerExited.IsCompleted);
        Assert.True(host.WorkerProcessId > 0);
    }

    [Fact]
    public async Task Reserved_and_conflicting_routes_are_refused_at_load_like_the_host()
    {
        // ScriptHost.ValidateHttpFunction: routes starting with "admin" or "runtime" are the host's own.
        Assert.DoesNotContain(host.Functions, f => f.Name == "ReservedRoute");
        Assert.Contains("The 'ReservedRoute' function is in error: The specified route conflicts with one or more built in routes.", host.Output, StringComparison.Ordinal);
        using var reserved = await TestWorker.Http.GetAsync(Url("api/administer"));
        Assert.Equal(HttpStatusCode.NotFound, reserved.StatusCode);

        // HttpRoutesConflict: the same route with a method in common; whichever comes second is refused.
        var twin = Assert.Single(host.Functions, f => f.Name.StartsWith("Twin", StringComparison.Ordinal));
        Assert.Contains("The route specified conflicts with the route defined by function", host.Output, StringComparison.Ordinal);
        using var served = await TestWorker.Http.GetAsync(Url("api/twin"));
        Assert.Equal(twin.Name, await served.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Routes_answer_200_and_404_and_a_method_not_declared_is_404_like_the_host()
    {
        using var ok = await TestWorker.Http.GetAsync(Url("api/echo"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("echo", await ok.Content.ReadAsStringAsync());

        using var trailingSlash = await TestWorker.Http.GetAsync(Url("api/echo/"));
        Assert.Equal(HttpStatusCode.OK, trailingSlash.StatusCode);

        using var unknown = await TestWorker.Http.GetAsync(Url("api/nothing-here"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        using var withoutPrefix = await TestWorker.Http.GetAsync(Url("echo"));
        Assert.Equal(HttpStatusCode.NotFound, withoutPrefix.StatusCode);

        // The host's methods are a route constraint (HttpMethodRouteConstraint): no match, so 404, not 405.
        using var wrongMethod = await TestWorker.Http.PutAsync(Url("api/echo"), new StringContent("x"));
        Assert.Equal(HttpStatusCode.NotFound, wrongMethod.StatusCode);

        using var tooDeep = await TestWorker.Http.PostAsync(Url("api/items/1/2"), new StringContent("x"));
        Assert.Equal(HttpStatusCode.NotFound, tooDeep.StatusCode);
    }

    [Fact]
    public async Task Route_values_query_headers_and_body_reach_the_worker()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Url("api/items/42?q=hello%20world"))
        {
            Content = new StringContent("""{"payload":true}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-test", "header-value");
        // Whatever a caller claims is replaced, never passed on or appended to.
        request.Headers.Add("X-Forwarded-For", "203.0.113.9");
        request.Headers.Add("X-Forwarded-Host", "forged.example");
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-Prefix", "/forged");
        using var response = await TestWorker.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);

        using var json = JsonDocument.Parse(text);
        Assert.Equal("42", json.RootElement.GetProperty("id").GetString());
        // From the invocation's trigger metadata, not from the proxied request.
        Assert.Equal("42", json.RootElement.GetProperty("metadataId").GetString());
        Assert.Equal("hello world", json.RootElement.GetProperty("query").GetString());
        Assert.Equal("""{"payload":true}""", json.RootElement.GetProperty("body").GetString());
        Assert.Equal("header-value", json.RootElement.GetProperty("header").GetString());
        // The host's forwarder (YARP's HttpTransformer.Default) sends the worker's own address as Host and sets (never
        // appends) X-Forwarded-For/Proto/Host from the caller's connection; the worker's UseForwardedHeaders applies
        // them. So the app sees the caller's Host, scheme and address, and nothing a caller forged.
        Assert.Equal(host.BaseAddress.Authority, json.RootElement.GetProperty("host").GetString());
        Assert.Equal("http", json.RootElement.GetProperty("scheme").GetString());
        Assert.Equal("127.0.0.1", json.RootElement.GetProperty("remoteIp").GetString());
        Assert.Equal("", json.RootElement.GetProperty("pathBase").GetString());
        var original = json.RootElement.GetProperty("originalHost").GetString();
        Assert.False(string.IsNullOrEmpty(original));
        Assert.NotEqual(host.BaseAddress.Authority, original);
    }

    [Fact]
    public async Task An_empty_body_keeps_its_content_type()
    {
        using var response = await TestWorker.Http.PostAsync(Url("api/items/9"), new StringContent("", Encoding.UTF8, "application/json"));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("", json.RootElement.GetProperty("body").GetString());
        Assert.Equal("application/json; charset=utf-8", json.RootElement.GetProperty("contentType").GetString());
    }

    [Fact]
    public async Task A_204_keeps_the_keep_alive_connection_usable()
    {
        // Raw HTTP/1.1 on one socket: HttpClient would silently retry on a fresh connection if Kestrel dropped this one
        // (as it does after a wrongly written 204).
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port);
        var stream = tcp.GetStream();
        stream.ReadTimeout = 10_000;

        async Task<string> RoundTripAsync(string path)
        {
            var request = Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host.BaseAddress.Authority}\r\n\r\n");
            await stream.WriteAsync(request);
            return await TestWorker.ReadRawAnswerAsync(stream);
        }

        for (var i = 0; i < 2; i++)
        {
            Assert.StartsWith("HTTP/1.1 204", await RoundTripAsync("/api/nocontent"), StringComparison.Ordinal);
            var echo = await RoundTripAsync("/api/echo");
            Assert.StartsWith("HTTP/1.1 200", echo, StringComparison.Ordinal);
            Assert.EndsWith("echo", echo, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Without_configured_keys_nothing_is_checked()
    {
        using var post = await TestWorker.Http.PostAsync(Url("api/items/7"), new StringContent("b"));
        Assert.Equal(HttpStatusCode.OK, post.StatusCode);

        using var delete = await TestWorker.Http.DeleteAsync(Url("api/items/7"));
        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        Assert.Equal("deleted 7", await delete.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Settings_reach_the_worker_and_the_callers_environment_does_not()
    {
        async Task<string?> SettingAsync(string name)
        {
            using var response = await TestWorker.Http.GetAsync(Url("api/setting/" + name));
            return response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsStringAsync() : null;
        }

        Assert.Equal("nested value", await SettingAsync("Section__Key"));
        Assert.Equal("*/5 * * * * *", await SettingAsync("TestTimerSchedule"));
        Assert.Null(await SettingAsync(KeysOffHost.ShellOnlyVariable));
        // A null setting unsets even an essential.
        Assert.Null(await SettingAsync("HOME"));
        Assert.Equal(await TestWorker.FolderAsync(), await SettingAsync("FUNCTIONS_APPLICATION_DIRECTORY"));
        Assert.Equal("dotnet-isolated", await SettingAsync("FUNCTIONS_WORKER_RUNTIME"));
        Assert.Equal("Development", await SettingAsync("AZURE_FUNCTIONS_ENVIRONMENT"));
        Assert.NotNull(await SettingAsync("PATH"));
    }

    [Fact]
    public async Task A_function_that_throws_before_writing_is_a_500()
    {
        // The worker answers an empty 200; the host's forwarder has not started the caller's response (no body yet),
        // so its ExceptionMiddleware makes the failed invocation a 500.
        using var response = await TestWorker.Http.GetAsync(Url("api/throws"));
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("", await response.Content.ReadAsStringAsync());
        Assert.True(
            await TestWorker.EventuallyAsync(() => host.Output.Contains("TestWorker throws on purpose", StringComparison.Ordinal), TimeSpan.FromSeconds(5)),
            host.Output);
    }

    [Fact]
    public async Task A_function_that_throws_after_writing_relays_what_it_wrote_and_ends_the_connection()
    {
        // The host's forwarder has copied the worker's answer to the caller before the failure is known: its status,
        // headers and body arrive, and Kestrel closes the connection (the invocation is logged as failed).
        using var response = await TestWorker.Http.GetAsync(Url("api/throws-after-writing?length=1"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("half an answer", await response.Content.ReadAsStringAsync());
        Assert.True(
            await TestWorker.EventuallyAsync(
                () => host.Output.Contains("Executed 'Functions.ThrowsAfterWriting' (Failure", StringComparison.Ordinal)
                    && host.Output.Contains("TestWorker throws after writing on purpose", StringComparison.Ordinal),
                TimeSpan.FromSeconds(5)),
            host.Output);
    }

    [Fact]
    public async Task A_function_that_throws_after_writing_a_chunked_body_leaves_it_unfinished()
    {
        // Without a Content-Length the host's Kestrel never writes the closing chunk: the caller's read fails.
        using var response = await TestWorker.Http.GetAsync(Url("api/throws-after-writing"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_incoming_traceparent_reaches_the_function()
    {
        const string TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        using var request = new HttpRequestMessage(HttpMethod.Get, Url("api/trace"));
        request.Headers.TryAddWithoutValidation("traceparent", TraceParent);
        using var response = await TestWorker.Http.SendAsync(request);
        Assert.Equal(TraceParent, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Without_a_valid_traceparent_the_function_gets_a_fresh_one()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Url("api/trace"));
        request.Headers.TryAddWithoutValidation("traceparent", "not-a-trace-parent");
        using var response = await TestWorker.Http.SendAsync(request);
        var seen = await response.Content.ReadAsStringAsync();
        Assert.True(ActivityContext.TryParse(seen, null, out var context), seen);
        Assert.NotEqual(default, context.TraceId);
    }

    [Fact]
    public async Task Worker_logs_arrive_as_level_category_message_lines()
    {
        using var response = await TestWorker.Http.GetAsync(Url("api/echo"));
        Assert.True(
            await TestWorker.EventuallyAsync(
                () => host.Output.Contains("[Information] VoiceFunctions.FunctionsHost.TestWorker.Functions: Echo /api/echo", StringComparison.Ordinal),
                TimeSpan.FromSeconds(5)),
            host.Output);
    }

    [Fact]
    public async Task InvokeAsync_runs_the_timer_function_and_reports_its_outcome()
    {
        var before = Directory.GetFiles(fixture.MarkerFolder, "tick-*").Length;
        var outcome = await host.InvokeAsync("Tick");
        Assert.True(outcome.Succeeded, outcome.ExceptionMessage);
        Assert.Equal("Success", outcome.Status);
        Assert.Equal(before + 1, Directory.GetFiles(fixture.MarkerFolder, "tick-*").Length);

        var failSwitch = Path.Combine(fixture.MarkerFolder, "fail");
        await File.WriteAllTextAsync(failSwitch, "");
        try
        {
            var failed = await host.InvokeAsync("tick");
            Assert.False(failed.Succeeded);
            Assert.Equal("Failure", failed.Status);
            Assert.Contains("Tick asked to fail", failed.ExceptionMessage, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(failSwitch);
        }

        await Assert.ThrowsAsync<ArgumentException>(() => host.InvokeAsync("NoSuchFunction"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => host.InvokeAsync("Echo"));
    }
}
