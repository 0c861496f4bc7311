using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using VoiceFunctions.Notes;

namespace VoiceFunctions.Tests.Notes;

/// <summary>
/// Issue 21, item 4: the signed notes webhook, delivered over real HTTP to a loopback receiver that verifies each
/// delivery by its own reading of the Standard Webhooks spec (<see cref="WebhookReceiver"/>).
/// </summary>
public sealed class NotesWebhookTests
{
    private const string CallId = "0f5e1c2a-3b4d-4e6f-8a9b-0c1d2e3f4a5b";
    private const string Key = CallId + ":notes";

    private static readonly byte[] Body = Encoding.UTF8.GetBytes("""{"callId":"0f5e1c2a-3b4d-4e6f-8a9b-0c1d2e3f4a5b","summary":"Möchte einen Termin verschieben.","callback_number":"+4921112345678"}""");

    private static string NewSecret() => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private static ServiceProvider Services(LogCapture? logs = null, TimeProvider? time = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b =>
        {
            b.SetMinimumLevel(LogLevel.Trace);
            if (logs is not null)
            {
                b.AddProvider(logs);
            }
        });
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        services.AddNotesWebhook();
        return services.BuildServiceProvider();
    }

    /// <summary>The registered client's configuration (handler, timeout, loggers) with a different attempt timeout.</summary>
    private static NotesWebhook Registered(ServiceProvider services, TimeSpan timeout) =>
        new(services.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(NotesWebhook)), TimeProvider.System) { Timeout = timeout };

    [Fact]
    public async Task Notes_arrive_as_json_signed_so_an_independent_standard_webhooks_check_accepts_them_with_the_same_id_on_redelivery()
    {
        var secret = NewSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        await using var services = Services();
        var webhook = services.GetRequiredService<NotesWebhook>();

        await webhook.PostAsync(receiver.Url, secret, Key, Body, TestContext.Current.CancellationToken);
        await webhook.PostAsync(receiver.Url, secret, Key, Body, TestContext.Current.CancellationToken);

        var deliveries = receiver.Deliveries.ToArray();
        Assert.Equal(2, deliveries.Length);
        foreach (var d in deliveries)
        {
            Assert.Equal("ok", d.Verdict);
            Assert.Equal("application/json; charset=utf-8", d.ContentType);
            Assert.Equal(Body, d.Body);
            Assert.Equal(Key, d.Id);
            Assert.StartsWith("v1,", d.Signature, StringComparison.Ordinal);
            var age = DateTimeOffset.UtcNow - DateTimeOffset.FromUnixTimeSeconds(long.Parse(d.Timestamp!, System.Globalization.CultureInfo.InvariantCulture));
            Assert.InRange(age, TimeSpan.FromSeconds(-2), TimeSpan.FromSeconds(60));
        }
    }

    [Fact]
    public async Task The_signature_is_the_spec_reference_librarys_for_its_published_test_vector()
    {
        // standard-webhooks/standard-webhooks libraries/csharp/StandardWebhooks.Tests/WebhookTest.cs (1e88c9c),
        // verifyWebhookSignWorks: the same key, id, time and payload sign to this value in every reference library.
        const string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        var at = DateTimeOffset.FromUnixTimeSeconds(1614265330);
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        await using var services = Services(time: new FixedClock(at));

        // The receiver's clock is today's: that 2021 timestamp is refused as too old, and the sender reports it.
        var refused = await Assert.ThrowsAsync<NotesWebhookException>(() => services.GetRequiredService<NotesWebhook>()
            .PostAsync(receiver.Url, secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", Encoding.UTF8.GetBytes("{\"test\": 2432232314}"), TestContext.Current.CancellationToken));

        var delivery = Assert.Single(receiver.Deliveries);
        Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", delivery.Signature);
        Assert.Equal("1614265330", delivery.Timestamp);
        Assert.Equal("timestamp too old", delivery.Verdict);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task A_wrong_secret_fails_verification_and_the_refusal_is_a_NotesWebhookException()
    {
        await using var receiver = await WebhookReceiver.StartAsync(NewSecret());
        await using var services = Services();

        var e = await Assert.ThrowsAsync<NotesWebhookException>(() => services.GetRequiredService<NotesWebhook>()
            .PostAsync(receiver.Url, NewSecret(), Key, Body, TestContext.Current.CancellationToken));

        Assert.Equal("no matching signature", Assert.Single(receiver.Deliveries).Verdict);
        Assert.Equal(HttpStatusCode.Unauthorized, e.StatusCode);
        Assert.False(e.TimedOut);
    }

    [Fact]
    public async Task The_timestamp_is_the_senders_clock_and_one_outside_the_receivers_tolerance_is_refused()
    {
        var secret = NewSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);

        // Just inside the 5 minutes: accepted. Just outside, either way: refused.
        foreach (var (offset, verdict) in new[] { (TimeSpan.FromMinutes(-4), "ok"), (TimeSpan.FromMinutes(-6), "timestamp too old"), (TimeSpan.FromMinutes(6), "timestamp too new") })
        {
            await using var services = Services(time: new FixedClock(DateTimeOffset.UtcNow + offset));
            var post = services.GetRequiredService<NotesWebhook>().PostAsync(receiver.Url, secret, Key, Body, TestContext.Current.CancellationToken);
            if (verdict == "ok")
            {
                await post;
            }
            else
            {
                await Assert.ThrowsAsync<NotesWebhookException>(() => post);
            }

            Assert.True(receiver.Deliveries.TryDequeue(out var d));
            Assert.Equal(verdict, d.Verdict);
        }
    }

    [Theory]
    [InlineData(500)]
    [InlineData(503)]
    [InlineData(404)]
    [InlineData(410)]
    public async Task A_non_2xx_answer_raises_NotesWebhookException_with_its_status(int status)
    {
        var secret = NewSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        receiver.Status = status;
        await using var services = Services();

        var e = await Assert.ThrowsAsync<NotesWebhookException>(() => services.GetRequiredService<NotesWebhook>()
            .PostAsync(receiver.Url, secret, Key, Body, TestContext.Current.CancellationToken));

        Assert.Equal((HttpStatusCode)status, e.StatusCode);
        Assert.Equal("ok", Assert.Single(receiver.Deliveries).Verdict);
    }

    [Fact]
    public async Task A_redirect_is_a_failure_and_is_not_followed()
    {
        var secret = NewSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        receiver.Status = 307;
        await using var services = Services();

        var e = await Assert.ThrowsAsync<NotesWebhookException>(() => services.GetRequiredService<NotesWebhook>()
            .PostAsync(receiver.Url, secret, Key, Body, TestContext.Current.CancellationToken));

        Assert.Equal(HttpStatusCode.TemporaryRedirect, e.StatusCode);
        Assert.Equal(0, receiver.ElsewhereHits);
    }

    [Fact]
    public async Task A_receiver_slower_than_the_timeout_raises_NotesWebhookException_marked_timed_out()
    {
        var secret = NewSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        receiver.Delay = TimeSpan.FromSeconds(20);
        await using var services = Services();
        var started = DateTimeOffset.UtcNow;

        var e = await Assert.ThrowsAsync<NotesWebhookException>(() => Registered(services, TimeSpan.FromMilliseconds(500))
            .PostAsync(receiver.Url, secret, Key, Body, TestContext.Current.CancellationToken));

        Assert.True(e.TimedOut);
        Assert.Null(e.StatusCode);
        Assert.True(DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(15), "the attempt ends at its timeout, not the receiver's answer");
    }

    [Fact]
    public async Task No_listener_raises_NotesWebhookException()
    {
        var secret = NewSecret();
        Uri url;
        await using (var receiver = await WebhookReceiver.StartAsync(secret))
        {
            url = receiver.Url;
        }

        await using var services = Services();
        var e = await Assert.ThrowsAsync<NotesWebhookException>(() => services.GetRequiredService<NotesWebhook>()
            .PostAsync(url, secret, Key, Body, TestContext.Current.CancellationToken));

        Assert.False(e.TimedOut);
        Assert.Null(e.StatusCode);
        Assert.IsType<HttpRequestException>(e.InnerException);
    }

    [Fact]
    public async Task Neither_the_secret_the_body_nor_the_urls_query_reach_logs_or_the_exception()
    {
        var secret = NewSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        receiver.Status = 500;
        var logs = new LogCapture();
        await using var services = Services(logs);
        // A Logic App's trigger URL carries its SAS signature in the query.
        var url = new Uri(receiver.Url + "?api-version=2016-10-01&sig=SasSignatureThatIsASecret");

        var e = await Assert.ThrowsAsync<NotesWebhookException>(() => services.GetRequiredService<NotesWebhook>()
            .PostAsync(url, secret, Key, Body, TestContext.Current.CancellationToken));

        Assert.Equal("?api-version=2016-10-01&sig=SasSignatureThatIsASecret", Assert.Single(receiver.Deliveries).Query);
        var everything = e + "\n" + string.Join("\n", logs.Lines);
        foreach (var forbidden in new[] { secret, secret["whsec_".Length..], "SasSignatureThatIsASecret", "Termin", "+4921112345678" })
        {
            Assert.DoesNotContain(forbidden, everything, StringComparison.Ordinal);
        }

        // The message names the host only, not the path (a stack trace may name source files called Notes).
        Assert.DoesNotContain(receiver.Url.AbsolutePath, e.Message, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://notes.example.com/hook", "ok-secret", Key, "url")]
    [InlineData("https://user:pw@notes.example.com/hook", "ok-secret", Key, "url")]
    [InlineData("https://notes.example.com/hook", "not-whsec", Key, "secret")]
    [InlineData("https://notes.example.com/hook", "short-secret", Key, "secret")]
    [InlineData("https://notes.example.com/hook", "ok-secret", "call.with.dots:notes", "idempotencyKey")]
    [InlineData("https://notes.example.com/hook", "ok-secret", "", "idempotencyKey")]
    public async Task Unacceptable_configuration_is_an_ArgumentException_before_anything_is_sent(string url, string secret, string key, string parameter)
    {
        secret = secret switch
        {
            "ok-secret" => NewSecret(),
            "short-secret" => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)),
            _ => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        };
        await using var services = Services();

        var e = await Assert.ThrowsAsync<ArgumentException>(() => services.GetRequiredService<NotesWebhook>()
            .PostAsync(new Uri(url), secret, key, Body, TestContext.Current.CancellationToken));

        Assert.Equal(parameter, e.ParamName);
        Assert.DoesNotContain(secret, e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_checks_persona_validation_can_share_accept_what_the_spec_and_the_issue_allow()
    {
        Assert.True(NotesWebhook.IsAllowedUrl(new Uri("https://prod-12.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=abc")));
        Assert.True(NotesWebhook.IsAllowedUrl(new Uri("http://127.0.0.1:7071/notes")));
        Assert.True(NotesWebhook.IsAllowedUrl(new Uri("http://localhost/notes")));
        Assert.False(NotesWebhook.IsAllowedUrl(new Uri("http://10.0.0.4/notes")));
        Assert.False(NotesWebhook.IsAllowedUrl(new Uri("ftp://example.com/notes")));
        Assert.False(NotesWebhook.IsAllowedUrl(new Uri("/notes", UriKind.Relative)));
        Assert.True(NotesWebhook.IsValidSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")); // 24 bytes, the reference vector's
        Assert.False(NotesWebhook.IsValidSecret("whsec_" + Convert.ToBase64String(new byte[65])));
        Assert.False(NotesWebhook.IsValidSecret("whsec_not base64!"));
        Assert.False(NotesWebhook.IsValidSecret(null));
        Assert.True(NotesWebhook.IsValidIdempotencyKey(Key));
        Assert.False(NotesWebhook.IsValidIdempotencyKey("a\r\nb"));
    }
}
