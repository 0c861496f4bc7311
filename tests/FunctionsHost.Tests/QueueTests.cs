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
        var poison = fixture.Azurite.Queue(fixture.QueueName + "-poison", QueueMessageEncoding.None);
        var before = Total(poison);
        await fixture.Azurite.Queue(fixture.QueueName, QueueMessageEncoding.None).SendMessageAsync(text);

        // Seen as it is while visible; the poison queue's own listener may take it first and, unable to decode it either,
        // hold it invisible: then only the queue's count (visible and invisible) shows it arrived.
        Assert.True(
            await TestWorker.EventuallyAsync(() => Peek(poison).Contains(text) || Total(poison) > before, Within),
            host.Output);
        Assert.Empty(QueueHost.Records(fixture.MarkerFolder, r => r["message"] == text));
        Assert.True(await TestWorker.EventuallyAsync(() => Count(fixture.Azurite.Queue(fixture.QueueName)) == 0, Within), host.Output);
    }

    [Fact]
    public async Task Messages_are_fetched_in_batches_and_processed_in_parallel_up_to_batchSize_plus_newBatchThreshold()
    {
        var queue = fixture.Azurite.Queue(fixture.QueueName);
        var texts = Enumerable.Range(0, 10).Select(_ => Unique("slow:1500")).ToList();
        await Task.WhenAll(texts.Select(t => queue.SendMessageAsync(t)));

        Assert.True(await TestWorker.EventuallyAsync(() => texts.All(t => fixture.Records("text", t).Count >= 1), Within + Within), host.Output);
        var runs = texts.Select(t => fixture.Records("text", t)[0])
            .Select(r => (Start: DateTimeOffset.Parse(r["started"]!, CultureInfo.InvariantCulture), End: DateTimeOffset.Parse(r["ended"]!, CultureInfo.InvariantCulture)))
            .ToList();
        var most = runs.Max(run => runs.Count(other => other.Start <= run.Start && other.End > run.Start));
        // batchSize 4 per fetch, the next fetch once in-flight drops to newBatchThreshold 2: never more than 6 at once
        // (the defaults, 16 and 8 × processors, would start all ten together), and in parallel, not one by one.
        Assert.InRange(most, 2, 6);
    }

    [Fact]
    public async Task After_empty_polls_the_back_off_stops_at_maxPollingInterval()
    {
        // Idle long enough that the host's default (1 min) would have backed off to a 6.5 s wait (0.1, 0.2, 0.3, 0.5,
        // 0.9, 1.7, 3.3, 6.5 s …); with maxPollingInterval 1 s a new message waits about a second at most.
        var bytes = fixture.Azurite.Queue(fixture.QueueName + "-bytes");
        await Task.Delay(TimeSpan.FromSeconds(8));
        var text = Unique("after-idle");
        var sent = DateTimeOffset.UtcNow;
        await bytes.SendMessageAsync(new BinaryData(Encoding.UTF8.GetBytes(text)));

        Assert.True(await TestWorker.EventuallyAsync(() => fixture.Records("bytes", Convert.ToBase64String(Encoding.UTF8.GetBytes(text))).Count == 1, Within), host.Output);
        var started = DateTimeOffset.Parse(fixture.Records("bytes", Convert.ToBase64String(Encoding.UTF8.GetBytes(text)))[0]["started"]!, CultureInfo.InvariantCulture);
        Assert.True(started - sent < TimeSpan.FromSeconds(2.5), $"picked up after {started - sent}");
    }

    [Fact]
    public async Task A_function_that_outlives_the_lease_keeps_its_message_invisible_and_runs_once()
    {
        // Lease 4 s, renewed every 2 s: a 6 s function is not given the message a second time.
        var text = Unique("slow:6000");
        await fixture.Azurite.Queue(fixture.QueueName).SendMessageAsync(text);

        Assert.True(await TestWorker.EventuallyAsync(() => fixture.Records("text", text).Count == 1, Within), host.Output);
        // Without the renewal the message would be visible again at 4 s and its second run end by about 10 s.
        await Task.Delay(TimeSpan.FromSeconds(6));
        var runs = fixture.Records("text", text);
        Assert.Single(runs);
        Assert.Equal("1", runs[0]["meta.DequeueCount"]);
        Assert.True(await TestWorker.EventuallyAsync(() => Count(fixture.Azurite.Queue(fixture.QueueName)) == 0, Within), host.Output);
    }

    [Fact]
    public async Task Binary_and_SDK_type_parameters_get_the_message_as_the_host_sends_it()
    {
        // dataType Binary: the bytes; not UTF-8, so no QueueTrigger metadata ("not a valid string").
        byte[] bytes = [0, 1, 2, 0xff, 0xfe, (byte)Random.Shared.Next(256)];
        await fixture.Azurite.Queue(fixture.QueueName + "-bytes").SendMessageAsync(new BinaryData(bytes));
        Assert.True(await TestWorker.EventuallyAsync(() => fixture.Records("bytes", Convert.ToBase64String(bytes)).Count == 1, Within), host.Output);
        var binary = fixture.Records("bytes", Convert.ToBase64String(bytes))[0];
        Assert.False(binary.ContainsKey("meta.QueueTrigger"));
        Assert.Equal("1", binary["meta.DequeueCount"]);

        // A QueueMessage parameter (supportsDeferredBinding): model binding data the worker's converter reads.
        var text = Unique("sdk");
        var sent = (await fixture.Azurite.Queue(fixture.QueueName + "-sdk").SendMessageAsync(text)).Value;
        Assert.True(await TestWorker.EventuallyAsync(() => fixture.Records("sdk", text).Count == 1, Within), host.Output);
        var sdk = fixture.Records("sdk", text)[0];
        Assert.Equal(sent.MessageId, sdk["sdk.MessageId"]);
        Assert.Equal("1", sdk["sdk.DequeueCount"]);
        Assert.False(string.IsNullOrEmpty(sdk["sdk.PopReceipt"]));
        Assert.False(string.IsNullOrEmpty(sdk["sdk.InsertedOn"]));
    }

    [Fact]
    public async Task The_admin_endpoint_runs_a_queue_function_with_the_input_as_a_message_in_no_queue()
    {
        var text = Unique("manual");
        using var response = await TestWorker.Http.PostAsync(
            new Uri(host.BaseAddress, "admin/functions/QueueText"),
            new StringContent(System.Text.Json.JsonSerializer.Serialize(new { input = text }), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        Assert.True(await TestWorker.EventuallyAsync(() => fixture.Records("text", text).Count == 1, Within), host.Output);
        var record = fixture.Records("text", text)[0];
        // StringToStorageQueueMessageConverter: no id, no pop receipt (left out, being null), dequeue count 0.
        Assert.Equal(text, record["meta.QueueTrigger"]);
        Assert.Equal("0", record["meta.DequeueCount"]);
        Assert.False(record.ContainsKey("meta.Id"));
        Assert.False(record.ContainsKey("meta.PopReceipt"));
        Assert.Contains("Executing 'Functions.QueueText' (Reason='Manual'", host.Output, StringComparison.Ordinal);

        var outcome = await host.InvokeAsync("QueueText", Unique("fail-manual"));
        Assert.False(outcome.Succeeded);
    }

    /// <summary>Messages in the queue, the invisible ones (taken by a listener) included.</summary>
    private static int Total(QueueClient queue) => queue.Exists().Value ? queue.GetProperties().Value.ApproximateMessagesCount : 0;

    private static int Count(QueueClient queue) => queue.Exists().Value ? queue.PeekMessages(32).Value.Length : 0;

    private static List<string> Peek(QueueClient queue) =>
        queue.Exists().Value ? [.. queue.PeekMessages(32).Value.Select(m => m.Body.ToString())] : [];
}
