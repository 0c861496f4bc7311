using System.Globalization;
using System.Text;
using System.Text.Json;
using Azure.Storage.Queues.Models;
using Microsoft.Azure.Functions.Worker;

namespace VoiceFunctions.FunctionsHost.TestWorker;

/// <summary>
/// Queue-triggered functions for the emulator's queue trigger tests. Each writes what it received (the message, the
/// trigger metadata, when it started and ended) as one JSON file into the marker folder. The message tells it what to
/// do: "fail…" throws, "slow:N…" takes N ms first (to see parallelism and the lease being renewed).
/// </summary>
public static class QueueFunctions
{
    [Function("QueueText")]
    public static Task QueueText([QueueTrigger("%TestQueueName%")] string message, FunctionContext context) =>
        RecordAsync("text", message, context);

    [Function("QueueBytes")]
    public static Task QueueBytes([QueueTrigger("%TestQueueName%-bytes")] byte[] message, FunctionContext context) =>
        RecordAsync("bytes", Convert.ToBase64String(message), context);

    [Function("QueueSdkMessage")]
    public static Task QueueSdkMessage([QueueTrigger("%TestQueueName%-sdk")] QueueMessage message, FunctionContext context) =>
        RecordAsync("sdk", message.MessageText, context, new Dictionary<string, string?>
        {
            ["sdk.MessageId"] = message.MessageId,
            ["sdk.DequeueCount"] = message.DequeueCount.ToString(CultureInfo.InvariantCulture),
            ["sdk.PopReceipt"] = message.PopReceipt,
            ["sdk.InsertedOn"] = message.InsertedOn?.ToString("O", CultureInfo.InvariantCulture),
        });

    // The host's "<queue>-poison" rule: an ordinary queue for a function triggered on it.
    [Function("QueuePoison")]
    public static Task QueuePoison([QueueTrigger("%TestQueueName%-poison", Connection = "TestQueueConnection")] string message, FunctionContext context) =>
        RecordAsync("poison", message, context);

    private static async Task RecordAsync(string kind, string message, FunctionContext context, Dictionary<string, string?>? extra = null)
    {
        var started = DateTimeOffset.UtcNow;
        var text = kind == "bytes" ? Encoding.UTF8.GetString(Convert.FromBase64String(message)) : message;
        if (text.StartsWith("slow:", StringComparison.Ordinal)
            && int.TryParse(new string([.. text.Skip(5).TakeWhile(char.IsAsciiDigit)]), NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds))
        {
            await Task.Delay(milliseconds, context.CancellationToken).ConfigureAwait(false);
        }

        var folder = Environment.GetEnvironmentVariable("TestMarkerFolder")!;
        var record = new Dictionary<string, string?>
        {
            ["kind"] = kind,
            ["message"] = message,
            ["started"] = started.ToString("O", CultureInfo.InvariantCulture),
            ["ended"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["invocationId"] = context.InvocationId,
        };
        foreach (var (key, value) in context.BindingContext.BindingData)
        {
            record["meta." + key] = Convert.ToString(value, CultureInfo.InvariantCulture);
        }

        foreach (var (key, value) in extra ?? [])
        {
            record[key] = value;
        }

        var failing = text.StartsWith("fail", StringComparison.Ordinal);
        record["failed"] = failing ? "true" : "false";
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(
            Path.Combine(folder, $"queue-{kind}-{Guid.NewGuid():N}.json"),
            JsonSerializer.Serialize(record),
            CancellationToken.None).ConfigureAwait(false);
        if (failing)
        {
            throw new InvalidOperationException("The queue message asked to fail");
        }
    }
}
