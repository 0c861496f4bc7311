using System.Net;
using System.Text;
using System.Text.Json;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// The corpus of broken requests in tests/fixtures/bad-requests (one file each: body, content type and the
/// documented answer), sent over real HTTP: each gets its 4xx problem+json, nothing is written, the app stays up.
/// </summary>
public sealed class BadInputTests(DefaultApp app) : IClassFixture<DefaultApp>
{
    private readonly CallClient _calls = app.Calls();

    public static TheoryData<string> Cases =>
        new(Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "fixtures", "bad-requests"), "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal)!);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Each_hostile_or_broken_request_gets_its_documented_answer_and_never_a_5xx(string file)
    {
        using var fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "fixtures", "bad-requests", file)));
        var spec = fixture.RootElement;
        var expect = spec.GetProperty("expect");
        var status = expect.GetProperty("status").GetInt32();
        var id = CallClient.NewSessionId(); // each case writes (or must not write) its own session

        using var response = await _calls.PostBytesAsync(Body(spec, id), spec.GetProperty("contentType").GetString());

        if (status >= 400)
        {
            await ProblemAssert.IsProblemAsync(response, status, expect.GetProperty("type").GetString()!, expect.GetProperty("detailContains").GetString());
            using var stored = await _calls.GetSessionResponseAsync(id);
            Assert.Equal(HttpStatusCode.NotFound, stored.StatusCode); // nothing half-written
        }
        else
        {
            Assert.Equal(status, (int)response.StatusCode);
            if (expect.TryGetProperty("storedText", out var text))
            {
                var trace = (await _calls.GetSessionAsync(id)).GetProperty("trace");
                Assert.Equal(text.GetString(), Assert.Single(trace.EnumerateArray()).GetProperty("text").GetString());
            }
            else if (expect.TryGetProperty("storedRow", out var row))
            {
                // Accepted and recorded as one row with exactly these values (null: the field is not stored).
                var stored = Assert.Single((await _calls.GetSessionAsync(id)).GetProperty("trace").EnumerateArray());
                foreach (var field in row.EnumerateObject())
                {
                    var actual = stored.TryGetProperty(field.Name, out var value) ? value.GetRawText() : "null";
                    Assert.True(field.Value.GetRawText() == actual, $"{field.Name}: expected {field.Value.GetRawText()}, stored {actual}");
                }
            }
            else if (expect.TryGetProperty("storedKinds", out var kinds))
            {
                // Accepted and recorded: the trace holds exactly these rows.
                var trace = (await _calls.GetSessionAsync(id)).GetProperty("trace");
                Assert.Equal(kinds.EnumerateArray().Select(k => k.GetString()), trace.EnumerateArray().Select(t => t.GetProperty("kind").GetString()));
            }
            else
            {
                using var stored = await _calls.GetSessionResponseAsync(id);
                Assert.Equal(HttpStatusCode.NotFound, stored.StatusCode); // accepted, but nothing to keep
            }
        }

        Assert.Single(await _calls.StartAsync(CallClient.NewSessionId())); // still up and answering
    }

    [Fact]
    public async Task A_chunked_body_over_the_cap_is_refused_without_a_content_length()
    {
        using var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(new string(' ', 300 * 1024) + "{}")));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/events") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        using var response = await _calls.Http.SendAsync(request);

        await ProblemAssert.IsProblemAsync(response, 413, "urn:voicefunctions:problem:too-large");
    }

    [Fact]
    public async Task Other_methods_and_paths_are_4xx_not_5xx()
    {
        using var get = await _calls.Http.GetAsync(new Uri("/api/events", UriKind.Relative));
        using var missing = await _calls.Http.GetAsync(new Uri("/api/nothing-here", UriKind.Relative));

        // The host's methods are a route constraint: a GET on the POST-only route is no match (404, not 405).
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    /// <summary>The case's body with its placeholder session id replaced by <paramref name="id"/>.</summary>
    private static byte[] Body(JsonElement spec, string id)
    {
        var placeholder = Encoding.UTF8.GetBytes(spec.GetProperty("sessionId").GetString()!);
        if (spec.TryGetProperty("bodyBase64", out var b64))
        {
            return Replace(Convert.FromBase64String(b64.GetString()!), placeholder, Encoding.UTF8.GetBytes(id));
        }

        if (spec.TryGetProperty("oversizeTextChars", out var chars))
        {
            var evt = CallClient.Event("user_speak", id, fields: new() { ["text"] = new string('a', chars.GetInt32()) });
            return Encoding.UTF8.GetBytes(evt.ToJsonString());
        }

        return Replace(Encoding.UTF8.GetBytes(spec.GetProperty("body").GetString()!), placeholder, Encoding.UTF8.GetBytes(id));
    }

    private static byte[] Replace(byte[] body, byte[] from, byte[] to)
    {
        var index = body.AsSpan().IndexOf(from);
        return index < 0 ? body : [.. body.AsSpan(0, index), .. to, .. body.AsSpan(index + from.Length)];
    }
}
