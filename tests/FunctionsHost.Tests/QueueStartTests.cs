namespace VoiceFunctions.FunctionsHost.Tests;

/// <summary>Queue behaviours that need their own emulator: a queue prepared before it starts, other host.json options.</summary>
public sealed class QueueStartTests(AzuriteQueues azurite) : IClassFixture<AzuriteQueues>
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_message_dequeued_more_than_maxDequeueCount_times_goes_to_the_poison_queue_without_an_invocation()
    {
        var name = "seeded-" + Guid.NewGuid().ToString("N")[..12];
        var queue = azurite.Queue(name);
        await queue.CreateIfNotExistsAsync();
        var text = "seeded-" + Guid.NewGuid().ToString("N")[..8];
        await queue.SendMessageAsync(text);
        // Four receives before any listener runs (as after crashes mid-invocation): the fifth dequeue exceeds 3.
        for (var i = 0; i < 4; i++)
        {
            Assert.Single((await queue.ReceiveMessagesAsync(1, TimeSpan.FromSeconds(1))).Value);
            await Task.Delay(1100);
        }

        var markers = TestWorker.NewTempFolder();
        // QueuePoison's connection (TestQueueConnection) is left unset: that function is in error, the rest load.
        await using var host = await QueueHost.StartAsync(azurite, name, markers, QueueHost.HostJson, poisonConnection: false);
        Assert.DoesNotContain(host.Functions, f => f.Name == "QueuePoison");
        Assert.Contains(
            "The 'QueuePoison' function is in error: Storage account connection string 'AzureWebJobsTestQueueConnection' does not exist. Make sure that it is a defined App Setting.",
            host.Output,
            StringComparison.Ordinal);

        var poison = azurite.Queue(name + "-poison");
        Assert.True(
            await TestWorker.EventuallyAsync(() => poison.Exists().Value && poison.PeekMessages(32).Value.Any(m => m.Body.ToString() == text), Within),
            host.Output);
        Assert.Contains($"Message has reached MaxDequeueCount of 3. Moving message to queue '{name}-poison'.", host.Output, StringComparison.Ordinal);
        Assert.Empty(queue.PeekMessages(32).Value);
        Assert.Empty(QueueHost.Records(markers, _ => true));
    }

    [Fact]
    public async Task With_messageEncoding_none_plain_text_is_delivered_as_it_is()
    {
        var name = "plain-" + Guid.NewGuid().ToString("N")[..12];
        var queue = azurite.Queue(name, Azure.Storage.Queues.QueueMessageEncoding.None);
        await queue.CreateIfNotExistsAsync();
        var markers = TestWorker.NewTempFolder();
        var hostJson = QueueHost.HostJson.Replace("\"maxDequeueCount\": 3", "\"maxDequeueCount\": 3, \"messageEncoding\": \"none\"", StringComparison.Ordinal);
        await using var host = await QueueHost.StartAsync(azurite, name, markers, hostJson);

        var text = "plain text, not base64! " + Guid.NewGuid().ToString("N")[..8];
        await queue.SendMessageAsync(text);
        Assert.True(await TestWorker.EventuallyAsync(() => QueueHost.Records(markers, r => r["message"] == text).Count == 1, Within), host.Output);
        Assert.Contains("messageEncoding None", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_host_json_queue_option_the_host_refuses_stops_the_start()
    {
        var copy = await QueueHost.AppCopyAsync("""{ "version": "2.0", "extensions": { "queues": { "batchSize": 64 } } }""");
        var error = await Assert.ThrowsAsync<FunctionsHostStartException>(() => TestWorker.StartAsync(appFolder: copy));
        Assert.Equal("host.json extensions.queues.batchSize '64' must be from 1 to 32.", error.Message);
    }
}
