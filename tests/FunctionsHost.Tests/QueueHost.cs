using System.Text.Json;

namespace VoiceFunctions.FunctionsHost.Tests;

/// <summary>
/// Azurite's queue service and one emulator polling it, with short queue options in a copy of the app's host.json
/// (maxPollingInterval 1 s, visibilityTimeout 1 s, batchSize 4, newBatchThreshold 2, maxDequeueCount 3) and a 4 s
/// message lease (the host's is 10 min), so every queue behaviour shows within seconds.
/// </summary>
public sealed class QueueHost : IAsyncLifetime
{
    public const string HostJson = """
        {
          "version": "2.0",
          "functionTimeout": "00:00:30",
          "extensions": {
            "http": { "routePrefix": "api" },
            "queues": { "maxPollingInterval": "00:00:01", "visibilityTimeout": "00:00:01", "batchSize": 4, "newBatchThreshold": 2, "maxDequeueCount": 3 }
          }
        }
        """;

    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(4);

    public AzuriteQueues Azurite { get; } = new();

    public string MarkerFolder { get; } = TestWorker.NewTempFolder();

    /// <summary>The queue QueueText listens on (QueueBytes on "-bytes", QueueSdkMessage on "-sdk", QueuePoison on "-poison").</summary>
    public string QueueName { get; } = "notes-" + Guid.NewGuid().ToString("N")[..12];

    public FunctionsHostEmulator Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        await Azurite.InitializeAsync();
        // The host never creates a trigger's queue (it waits for it to exist); the app that enqueues does. The poison
        // queue is left to the emulator, which creates it when it moves the first message there, as the host does.
        foreach (var name in new[] { QueueName, QueueName + "-bytes", QueueName + "-sdk" })
        {
            await Azurite.Queue(name).CreateIfNotExistsAsync();
        }

        Host = await StartAsync(Azurite, QueueName, MarkerFolder, HostJson);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Azurite.DisposeAsync();
    }

    /// <summary>An emulator on a copy of the test worker with <paramref name="hostJson"/>, its queues on <paramref name="azurite"/>.</summary>
    public static async Task<FunctionsHostEmulator> StartAsync(
        AzuriteQueues azurite, string queueName, string markerFolder, string hostJson, bool poisonConnection = true)
    {
        var copy = await AppCopyAsync(hostJson);
        return await TestWorker.StartAsync(
            markerFolder: markerFolder,
            appFolder: copy,
            extraSettings: new()
            {
                ["AzureWebJobsStorage"] = azurite.ConnectionString,
                ["TestQueueName"] = queueName,
                ["TestQueueConnection"] = poisonConnection ? azurite.ConnectionString : null,
            },
            queueMessageLease: Lease);
    }

    public static async Task<string> AppCopyAsync(string hostJson)
    {
        var copy = TestWorker.NewTempFolder();
        foreach (var file in Directory.EnumerateFiles(await TestWorker.FolderAsync()))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        foreach (var folder in Directory.EnumerateDirectories(await TestWorker.FolderAsync()))
        {
            // .azurefunctions and runtimes: the worker needs them; a symbolic link is enough.
            Directory.CreateSymbolicLink(Path.Combine(copy, Path.GetFileName(folder)), folder);
        }

        await File.WriteAllTextAsync(Path.Combine(copy, "host.json"), hostJson);
        return copy;
    }

    /// <summary>What the queue functions recorded (one JSON object per invocation) for messages matching <paramref name="message"/>.</summary>
    public static List<Dictionary<string, string?>> Records(string markerFolder, Func<Dictionary<string, string?>, bool> match)
    {
        var records = new List<Dictionary<string, string?>>();
        foreach (var file in Directory.EnumerateFiles(markerFolder, "queue-*.json"))
        {
            string text;
            try
            {
                text = File.ReadAllText(file);
                var record = JsonSerializer.Deserialize<Dictionary<string, string?>>(text);
                if (record is not null && match(record))
                {
                    records.Add(record);
                }
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
                // Being written: the next look sees it whole.
            }
        }

        return [.. records.OrderBy(r => r["started"], StringComparer.Ordinal)];
    }

    public List<Dictionary<string, string?>> Records(string kind, string message) =>
        Records(MarkerFolder, r => r["kind"] == kind && r["message"] == message);
}
