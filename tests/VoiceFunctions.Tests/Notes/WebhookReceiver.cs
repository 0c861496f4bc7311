using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace VoiceFunctions.Tests.Notes;

/// <summary>One delivery as the receiver saw it, with its own verdict.</summary>
public sealed record ReceivedDelivery(string Path, string Query, string? ContentType, string? Id, string? Timestamp, string? Signature, byte[] Body, string Verdict);

/// <summary>
/// A notes receiver on 127.0.0.1 (real Kestrel), verifying every delivery as Standard Webhooks 1.0.0 tells a
/// consumer to (standard-webhooks/standard-webhooks spec/standard-webhooks.md at 03f5f8c, "Verifying signatures"),
/// written from the spec and not from the app's sender: the three headers present, the timestamp within 5 minutes
/// of the receiver's own clock, the secret's base64 after <c>whsec_</c> as the HMAC key, HMAC-SHA256 over
/// <c>{id}.{timestamp}.{raw body}</c>, each space-separated <c>v1,</c> entry compared in constant time. A delivery
/// that fails is answered 401, as a receiver would; <see cref="Status"/> and <see cref="Delay"/> override what it
/// answers after verification.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    private readonly WebApplication _app;
    private readonly byte[] _key;

    private WebhookReceiver(WebApplication app, string secret)
    {
        _app = app;
        _key = Convert.FromBase64String(secret["whsec_".Length..]);
    }

    public ConcurrentQueue<ReceivedDelivery> Deliveries { get; } = new();

    /// <summary>Answered after a verified delivery (default 200). 307 answers a redirect to /elsewhere.</summary>
    public int Status { get; set; } = 200;

    public TimeSpan Delay { get; set; }

    private int _elsewhereHits;

    public int ElsewhereHits => Volatile.Read(ref _elsewhereHits);

    public Uri Url { get; private set; } = null!;

    public static async Task<WebhookReceiver> StartAsync(string secret)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, secret);
        app.MapPost("/elsewhere", () =>
        {
            Interlocked.Increment(ref receiver._elsewhereHits);
            return Results.Ok();
        });
        app.MapGet("/elsewhere", () =>
        {
            Interlocked.Increment(ref receiver._elsewhereHits);
            return Results.Ok();
        });
        app.MapPost("/notes", (Func<HttpContext, Task<IResult>>)receiver.ReceiveAsync);
        await app.StartAsync();
        receiver.Url = new Uri(app.Urls.Single().TrimEnd('/') + "/notes");
        return receiver;
    }

    private async Task<IResult> ReceiveAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        var body = buffer.ToArray();
        var headers = context.Request.Headers;
        string? Header(string name) => headers.TryGetValue(name, out var v) ? v.ToString() : null;
        var (id, timestamp, signature) = (Header("webhook-id"), Header("webhook-timestamp"), Header("webhook-signature"));
        var verdict = Verify(id, timestamp, signature, body);
        Deliveries.Enqueue(new(context.Request.Path, context.Request.QueryString.Value ?? string.Empty, context.Request.ContentType, id, timestamp, signature, body, verdict));
        if (verdict != "ok")
        {
            return Results.Unauthorized();
        }

        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay, context.RequestAborted);
        }

        return Status == 307 ? Results.Redirect("/elsewhere", permanent: false, preserveMethod: true) : Results.StatusCode(Status);
    }

    private string Verify(string? id, string? timestamp, string? signature, byte[] body)
    {
        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(signature))
        {
            return "missing headers";
        }

        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return "bad timestamp";
        }

        var age = DateTimeOffset.UtcNow - DateTimeOffset.FromUnixTimeSeconds(seconds);
        if (age > Tolerance)
        {
            return "timestamp too old";
        }

        if (age < -Tolerance)
        {
            return "timestamp too new";
        }

        var signed = Encoding.UTF8.GetBytes($"{id}.{timestamp}.").Concat(body).ToArray();
        var expected = HMACSHA256.HashData(_key, signed);
        foreach (var entry in signature.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var comma = entry.IndexOf(',', StringComparison.Ordinal);
            if (comma < 0 || entry[..comma] != "v1")
            {
                continue;
            }

            var given = new byte[32];
            if (Convert.TryFromBase64String(entry[(comma + 1)..], given, out var n) && n == 32 && CryptographicOperations.FixedTimeEquals(given, expected))
            {
                return "ok";
            }
        }

        return "no matching signature";
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A clock standing still at a given instant (timers still run on real time).</summary>
internal sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}

/// <summary>Every log line written through the container's logger factory.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue($"{category}: {formatter(state, exception)} {exception}");
    }
}
