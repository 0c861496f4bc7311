using System.Globalization;
using System.Net;
using System.Text;
using Azure.Storage.Queues;

namespace VoiceFunctions.FunctionsHost.Tests;

/// <summary>
/// The queue trigger against Azurite's queue service with the host's semantics (README table): each test uses its own
/// messages on the fixture's queues, so the class shares one emulator.
/// </summary>
public sealed class QueueTests(QueueHost fixture) : IClassFixture<QueueHost>
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(20);

    private readonly FunctionsHostEmulator host = fixture.Host;

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task A_base64_message_is_invoked_with_the_hosts_trigger_metadata_and_deleted_on_success()
    {
        var queue = fixture.Azurite.Queue(fixture.QueueName);
        var text = Unique("hello");
        var sent = (await queue.SendMessageAsync(text)).Value;

        Assert.True(await TestWorker.EventuallyAsync(() => fixture.Records("text", text).Count == 1, Within), host.Output);
        var record = fixture.Records("text", text)[0];
        // QueueTriggerBinding.CreateBindingData's names, as the worker's BindingData holds them.
        Assert.Equal(sent.MessageId, record["meta.Id"]);
        Assert.Equal("1", record["meta.DequeueCount"]);
        Assert.Equal(text, record["meta.QueueTrigger"]);
        Assert.False(string.IsNullOrEmpty(record["meta.PopReceipt"]));
        // The host sends DequeueCount (long) and the times (DateTimeOffset) as JSON (GrpcMessageConversionExtensions.ToRpcDefault);
        // the worker hands JSON metadata over as its text, so a time arrives as a quoted JSON string.
        var inserted = System.Text.Json.JsonSerializer.Deserialize<DateTimeOffset>(record["meta.InsertionTime"]!);
        Assert.InRange(inserted, DateTimeOffset.UtcNow.AddMinutes(-2), DateTimeOffset.UtcNow);
        Assert.True(System.Text.Json.JsonSerializer.Deserialize<DateTimeOffset>(record["meta.ExpirationTime"]!) > inserted.AddDays(6));
        Assert.True(System.Text.Json.JsonSerializer.Deserialize<DateTimeOffset>(record["meta.NextVisibleTime"]!) > inserted);

        Assert.Contains($"Reason='New queue message detected on '{fixture.QueueName}'.'", host.Output, StringComparison.Ordinal);
        // Deleted, not only invisible: gone from the queue for good, never invoked again.
        Assert.True(await TestWorker.EventuallyAsync(() => Count(queue) == 0, Within), host.Output);
        await Task.Delay(QueueHost.Lease + TimeSpan.FromSeconds(1));
        Assert.Single(fixture.Records("text", text));
    }

    [Fact]
    public async Task A_failing_message_comes_back_after_visibilityTimeout_and_after_maxDequeueCount_tries_goes_to_the_poison_queue()
    {
        var text = Unique("fail");
        await fixture.Azurite.Queue(fixture.QueueName).SendMessageAsync(text);

        // maxDequeueCount 3: three tries, then "<queue>-poison", where QueuePoison (an ordinary queue trigger) gets it.
        Assert.True(await TestWorker.EventuallyAsync(() => fixture.Records("poison", text).Count == 1, Within + Within), host.Output);
        var tries = fixture.Records("text", text);
        Assert.Equal(["1", "2", "3"], tries.Select(r => r["meta.DequeueCount"]));
        Assert.Single(tries.Select(r => r["meta.Id"]).Distinct());
        for (var i = 1; i < tries.Count; i++)
        {
            // visibilityTimeout 1 s: not visible again before it (the host's ReleaseMessageAsync).
            var gap = DateTimeOffset.Parse(tries[i]["started"]!, CultureInfo.InvariantCulture) - DateTimeOffset.Parse(tries[i - 1]["ended"]!, CultureInfo.InvariantCulture);
            Assert.True(gap >= TimeSpan.FromMilliseconds(900), $"retry {i} came after {gap}");
        }

        Assert.Contains($"Message has reached MaxDequeueCount of 3. Moving message to queue '{fixture.QueueName}-poison'.", host.Output, StringComparison.Ordinal);
        Assert.Equal("1", fixture.Records("poison", text)[0]["meta.DequeueCount"]);
        Assert.NotEqual(tries[0]["meta.Id"], fixture.Records("poison", text)[0]["meta.Id"]);
        Assert.True(await TestWorker.EventuallyAsync(() => Count(fixture.Azurite.Queue(fixture.QueueName)) == 0, Within), host.Output);
    }

    [Fact]
    public async Task A_message_that_is_not_base64_goes_to_the_poison_queue_as_it_is_without_an_invocation()
    {
        // Sent by a producer that does not encode: the host's client cannot decode it and moves it (QueueServiceClientProvider).
        var text = Unique("plain text, not base64!");
        await fixture.Azurite.Queue(fixture.QueueName, QueueMessageEncoding.None).SendMessageAsync(text);

        var poison = fixture.Azurite.Queue(fixture.QueueName + "-poison", QueueMessageEncoding.None);
        Assert.True(
            await TestWorker.EventuallyAsync(() => Peek(poison).Contains(text), Within),
            host.Output);
        Assert.Empty(QueueHost.Records(fixture.MarkerFolder, r => r["message"] == text));
        Assert.True(await TestWorker.EventuallyAsync(() => Count(fixture.Azurite.Queue(fixture.QueueName)) == 0, Within), host.Output);
    }

    private static int Count(QueueClient queue) => queue.Exists().Value ? queue.PeekMessages(32).Value.Length : 0;

    private static List<string> Peek(QueueClient queue) =>
        queue.Exists().Value ? [.. queue.PeekMessages(32).Value.Select(m => m.Body.ToString())] : [];
}
