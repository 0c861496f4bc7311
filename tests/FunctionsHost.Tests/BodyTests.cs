using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace VoiceFunctions.FunctionsHost.Tests;

/// <summary>
/// Request bodies as the host treats them (WebJobs.Extensions.Http 3.2.0, HttpTriggerAttributeBindingProvider): a
/// Content-Length body is read whole during trigger binding, before the worker is invoked, and its top-level JSON
/// properties become trigger metadata; a chunked body is not read by the host and streams to the worker.
/// </summary>
public sealed class BodyTests(KeysOffHost fixture) : IClassFixture<KeysOffHost>
{
    private readonly FunctionsHostEmulator host = fixture.Host;

    [Fact]
    public async Task Top_level_JSON_properties_of_a_Content_Length_body_are_trigger_metadata_and_code_is_not()
    {
        const string Body = """{"name":"ada","n":5,"flag":true,"inner":{"a":1},"list":[1,2],"none":null,"q":"from body"}""";
        using var response = await TestWorker.Http.PostAsync(
            new Uri(host.BaseAddress, "api/metadata?q=from%20query&code=secret"),
            new StringContent(Body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var metadata = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal("ada", metadata.GetProperty("name").GetString());
        Assert.Equal("5", metadata.GetProperty("n").GetString());
        Assert.Equal("True", metadata.GetProperty("flag").GetString());
        Assert.Equal(1, JsonDocument.Parse(metadata.GetProperty("inner").GetString()!).RootElement.GetProperty("a").GetInt32());
        Assert.False(metadata.TryGetProperty("list", out _));
        Assert.False(metadata.TryGetProperty("none", out _));
        // The query overrides the body; the key parameter is never binding data.
        Assert.Equal("from query", metadata.GetProperty("q").GetString());
        Assert.False(metadata.TryGetProperty("code", out _));
    }

    [Fact]
    public async Task A_chunked_body_is_not_bound_to_trigger_metadata()
    {
        using var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes("""{"name":"ada"}""")));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(host.BaseAddress, "api/metadata")) { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await TestWorker.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var metadata = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.False(metadata.TryGetProperty("name", out _));
    }

    [Fact]
    public async Task A_chunked_body_streams_to_the_running_function()
    {
        var marker = Guid.NewGuid().ToString("N");
        using var tcp = await ConnectAsync();
        var stream = tcp.GetStream();
        await SendAsync(stream, $"POST /api/lines HTTP/1.1\r\nHost: {host.BaseAddress.Authority}\r\nTransfer-Encoding: chunked\r\n\r\n");
        await SendAsync(stream, Chunk(marker + "\n"));

        // The function has read the first line while the rest is still to come.
        Assert.True(
            await TestWorker.EventuallyAsync(() => File.Exists(Path.Combine(fixture.MarkerFolder, "first-line-" + marker)), TimeSpan.FromSeconds(15)),
            host.Output);

        await SendAsync(stream, Chunk("second\n") + "0\r\n\r\n");
        var answer = await TestWorker.ReadRawAnswerAsync(stream);
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n2", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Content_Length_body_is_read_whole_before_the_function_runs()
    {
        var marker = Guid.NewGuid().ToString("N");
        var body = marker + "\nsecond\n";
        using var tcp = await ConnectAsync();
        var stream = tcp.GetStream();
        await SendAsync(stream, $"POST /api/lines HTTP/1.1\r\nHost: {host.BaseAddress.Authority}\r\nContent-Length: {Encoding.ASCII.GetByteCount(body)}\r\n\r\n{marker}\n");

        // Well within the emulator's 2 s body idle timeout: the first line is in, the function must not have run.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.False(File.Exists(Path.Combine(fixture.MarkerFolder, "first-line-" + marker)));

        await SendAsync(stream, "second\n");
        var answer = await TestWorker.ReadRawAnswerAsync(stream);
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n2", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_caller_that_goes_away_cancels_the_invocation()
    {
        var marker = Guid.NewGuid().ToString("N");
        using (var caller = new HttpClient { Timeout = TimeSpan.FromSeconds(2) })
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => caller.GetAsync(new Uri(host.BaseAddress, "api/wait/" + marker)));
        }

        // The host sends invocation_cancel: the function's token fires long before its 60 s wait ends.
        Assert.True(
            await TestWorker.EventuallyAsync(() => File.Exists(Path.Combine(fixture.MarkerFolder, "cancelled-" + marker)), TimeSpan.FromSeconds(15)),
            host.Output);
    }

    private static string Chunk(string data) => $"{Encoding.ASCII.GetByteCount(data):x}\r\n{data}\r\n";

    private async Task<TcpClient> ConnectAsync()
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port);
        tcp.GetStream().ReadTimeout = 15_000;
        return tcp;
    }

    private static Task SendAsync(NetworkStream stream, string text) => stream.WriteAsync(Encoding.ASCII.GetBytes(text)).AsTask();
}
