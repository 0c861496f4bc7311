using System.Text.Json;
using Azure.Storage.Queues;

namespace VoiceFunctions.FunctionsHost.Tests;

/// <summary>The queue trigger's parts that need no worker: back-off, options, names.</summary>
public sealed class QueueUnitTests
{
    [Fact]
    public void Empty_polls_back_off_exponentially_with_jitter_up_to_the_maximum_and_a_found_message_resets_to_the_minimum()
    {
        var minimum = TimeSpan.FromMilliseconds(100);
        var backoff = new PollingBackoff(minimum, TimeSpan.FromSeconds(2));
        var delays = Enumerable.Range(0, 12).Select(_ => backoff.Next(executionSucceeded: false)).ToList();

        // RandomizedExponentialBackoffStrategy: min, then min + min × 2^(n-1) × [0.8, 1.2), until the maximum.
        Assert.Equal(minimum, delays[0]);
        for (var n = 1; n <= 4; n++)
        {
            var increment = minimum.TotalMilliseconds * Math.Pow(2, n - 1);
            Assert.InRange(delays[n].TotalMilliseconds, 100 + (0.8 * increment), 100 + (1.2 * increment));
        }

        Assert.Equal(TimeSpan.FromSeconds(2), delays[^1]);
        Assert.True(delays.Zip(delays.Skip(1)).All(pair => pair.Second >= pair.First), string.Join(", ", delays));

        Assert.Equal(minimum, backoff.Next(executionSucceeded: true));
        Assert.InRange(backoff.Next(executionSucceeded: false).TotalMilliseconds, 180, 220);
    }

    [Fact]
    public void Absent_queue_options_are_the_hosts_defaults()
    {
        using var hostJson = JsonDocument.Parse("""{ "version": "2.0" }""");
        var options = QueuesOptions.Read(hostJson.RootElement);

        Assert.Equal(16, options.BatchSize);
        Assert.Equal(TimeSpan.FromMinutes(1), options.MaxPollingInterval);
        Assert.Equal(TimeSpan.Zero, options.VisibilityTimeout);
        Assert.Equal(5, options.MaxDequeueCount);
        Assert.Equal(QueueMessageEncoding.Base64, options.MessageEncoding);
        // batchSize/2 × processor count; 1 processor on the Consumption plan (SkuUtility).
        Assert.Equal(8 * Environment.ProcessorCount, options.NewBatchThreshold(dynamicSku: false));
        Assert.Equal(8, options.NewBatchThreshold(dynamicSku: true));
    }

    [Fact]
    public void Queue_options_are_read_from_host_json_and_values_the_host_refuses_stop_the_start()
    {
        using var hostJson = JsonDocument.Parse(QueueHost.HostJson);
        var options = QueuesOptions.Read(hostJson.RootElement);
        Assert.Equal(4, options.BatchSize);
        Assert.Equal(2, options.NewBatchThreshold(dynamicSku: false));
        Assert.Equal(TimeSpan.FromSeconds(1), options.MaxPollingInterval);
        Assert.Equal(TimeSpan.FromSeconds(1), options.VisibilityTimeout);
        Assert.Equal(3, options.MaxDequeueCount);

        using var none = JsonDocument.Parse("""{ "extensions": { "queues": { "messageEncoding": "none", "batchSize": 32 } } }""");
        Assert.Equal(QueueMessageEncoding.None, QueuesOptions.Read(none.RootElement).MessageEncoding);

        foreach (var refused in new[] { """{ "batchSize": 33 }""", """{ "batchSize": 0 }""", """{ "maxDequeueCount": 0 }""", """{ "maxPollingInterval": "00:00:00.050" }""", """{ "messageEncoding": "utf8" }""", """{ "newBatchThreshold": -1 }""" })
        {
            using var bad = JsonDocument.Parse($$"""{ "extensions": { "queues": {{refused}} } }""");
            var error = Assert.Throws<FunctionsHostStartException>(() => QueuesOptions.Read(bad.RootElement));
            Assert.StartsWith("host.json extensions.queues.", error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("call-notes", "call-notes-poison")]
    [InlineData("call-notes-poison", null)]
    [InlineData("a23456789-123456789-123456789-123456789-123456789-1234567", null)]
    [InlineData("a23456789-123456789-123456789-123456789-123456789-123456", "a23456789-123456789-123456789-123456789-123456789-123456-poison")]
    public void A_queue_has_a_poison_queue_unless_it_is_one_or_the_name_would_be_too_long(string queue, string? poison) =>
        Assert.Equal(poison, QueueNames.Poison(queue));

    [Theory]
    [InlineData("call-notes", null)]
    [InlineData("ab", "A queue name must be from 3 to 63 characters long - \"ab\"")]
    [InlineData("-notes", "The dash (-) character may not be the first or last letter - \"-notes\"")]
    [InlineData("call--notes", "A queue name cannot contain consecutive dash(-) characters.")]
    [InlineData("call_notes", "A queue name can contain only letters, numbers, and dash(-) characters - \"call_notes\"")]
    public void Queue_names_are_checked_as_the_extension_checks_them(string name, string? error) =>
        Assert.Equal(error, QueueNames.Invalid(name));

    [Fact]
    public void The_connection_is_AzureWebJobs_prefixed_first_and_its_value_never_in_the_error()
    {
        var settings = new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true",
            ["Other"] = "DefaultEndpointsProtocol=http;AccountName=x;AccountKey=c2VjcmV0a2V5",
            ["Identity__queueServiceUri"] = "https://account.queue.core.windows.net",
        };
        string? Setting(string name) => settings.GetValueOrDefault(name);

        Assert.Equal(("AzureWebJobsStorage", "UseDevelopmentStorage=true"), Pair(QueueConnection.Resolve(null, Setting)));
        Assert.Equal(("AzureWebJobsStorage", "UseDevelopmentStorage=true"), Pair(QueueConnection.Resolve("Storage", Setting)));
        Assert.Equal(("Other", settings["Other"]), Pair(QueueConnection.Resolve("Other", Setting)));
        Assert.Equal(
            "Storage account connection string 'AzureWebJobsMissing' does not exist. Make sure that it is a defined App Setting.",
            QueueConnection.Resolve("Missing", Setting).Error);
        settings["AzureWebJobsBroken"] = "AccountKey=secret;no endpoint";
        Assert.Equal("The setting 'AzureWebJobsBroken' is not a valid storage connection string.", QueueConnection.Resolve("Broken", Setting).Error);
        var identity = QueueConnection.Resolve("Identity", Setting);
        Assert.Null(identity.ConnectionString);
        Assert.Contains("identity-based", identity.Error, StringComparison.Ordinal);
        // The record's text (a log line, a debugger) never shows the connection string: it holds the account key.
        Assert.DoesNotContain("c2VjcmV0a2V5", QueueConnection.Resolve("Other", Setting).ToString(), StringComparison.Ordinal);

        static (string, string?) Pair(QueueConnection connection) => (connection.Name, connection.ConnectionString);
    }
}
