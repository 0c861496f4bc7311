using System.Net;
using System.Text.Json.Nodes;
using VoiceFunctions.Telemetry;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// Values a request carries reach the logs only made harmless: no forged lines, no terminal escapes, nothing
/// personal in an unknown event type (which is described, never written). Issue 15, item 7.
/// </summary>
public sealed class LogHygieneTests(Azurite azurite)
{
    [Fact]
    public async Task An_unknown_event_type_never_reaches_the_logs_raw()
    {
        // Every log record of the worker reaches the emulator's output (rpc_log), arguments formatted.
        await using var app = new WebhookApp(azurite, new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Debug" });
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        const string type = "x\u001b[31mcrimson\u001b[0m\nFORGED mallory@example.com\u202Eevil";

        using var response = await calls.PostAsync(CallClient.Event(type, id));
        await calls.StartAsync(id);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        // Log records travel to the host on their own stream: wait for the line, briefly.
        var line = $"Unknown event type (length {type.Length}";
        for (var i = 0; i < 50 && !app.Output.Contains(line, StringComparison.Ordinal); i++)
        {
            await Task.Delay(100);
        }

        var output = app.Output;
        Assert.Contains(line, output, StringComparison.Ordinal);
        Assert.DoesNotContain("mallory", output, StringComparison.Ordinal);
        Assert.DoesNotContain("FORGED", output, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[31m", output, StringComparison.Ordinal);
        Assert.DoesNotContain("\u202E", output, StringComparison.Ordinal);
        Assert.DoesNotContain(output.Split('\n'), l => l.Contains("Unknown event type", StringComparison.Ordinal) && l.Contains("crimson", StringComparison.Ordinal));
    }

    [Fact]
    public void Request_values_are_escaped_and_bounded_for_logs()
    {
        Assert.Equal(@"a\u001B[2Jb\u000Ac\u009Bd\u202Ee\u007Ff\\u0041", LogValues.Text("a\u001b[2Jb\nc\u009bd\u202Ee\u007ff\\u0041"));
        Assert.Equal("Grüße 😀", LogValues.Text("Grüße 😀"));
        Assert.Equal(@"\uD800x", LogValues.Text("\ud800x")); // a lone surrogate
        Assert.Equal("abc…(+3)", LogValues.Text("abcdef", maxLength: 3));
        Assert.Equal("a…(+2)", LogValues.Text("a😀", maxLength: 2)); // a pair is never cut in half
        Assert.True(LogValues.Text(new string('\n', 10_000)).Length < 64 * 6 + 16);
        Assert.Equal(string.Empty, LogValues.Text(null));
    }

    [Fact]
    public void An_unknown_type_is_described_by_length_shape_and_a_keyed_fingerprint_only()
    {
        var fingerprints = new TranscriptFingerprint(Microsoft.Extensions.Options.Options.Create(new TelemetryOptions { TranscriptHashKey = "0123456789abcdef0123" }));

        var email = LogValues.UnknownEventType("mallory@example.com", fingerprints);
        var added = LogValues.UnknownEventType("call_recording_ready", fingerprints);

        Assert.Equal((19, false), (email.Length, email.LooksLikeEventType));
        Assert.Equal((20, true), (added.Length, added.LooksLikeEventType));
        Assert.Matches("^[0-9a-f]{16}$", email.Fingerprint);
        Assert.Equal(email.Fingerprint, LogValues.UnknownEventType("mallory@example.com", fingerprints).Fingerprint);
        Assert.NotEqual(email.Fingerprint, added.Fingerprint);
    }
}
