using System.Globalization;
using System.Text.Json;
using Azure.Storage.Queues;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// host.json's extensions.queues with the host's defaults and checks (azure-sdk-for-net
/// Microsoft.Azure.WebJobs.Extensions.Storage.Common, Shared/Queues/QueuesOptions.cs and QueuePollingIntervals.cs):
/// batchSize 16 (1..32), newBatchThreshold batchSize/2 × processor count (1 on the Consumption plan,
/// WEBSITE_SKU=Dynamic: SkuUtility), maxPollingInterval 1 min (at least 100 ms), visibilityTimeout 0,
/// maxDequeueCount 5 (at least 1), messageEncoding base64.
/// </summary>
internal sealed record QueuesOptions(
    int BatchSize,
    int? ExplicitNewBatchThreshold,
    TimeSpan MaxPollingInterval,
    TimeSpan VisibilityTimeout,
    int MaxDequeueCount,
    QueueMessageEncoding MessageEncoding)
{
    /// <summary>QueuePollingIntervals.Minimum: the first delay after an empty poll, and the floor of maxPollingInterval.</summary>
    public static readonly TimeSpan MinimumPollingInterval = TimeSpan.FromMilliseconds(100);

    public static QueuesOptions Default { get; } = new(16, null, TimeSpan.FromMinutes(1), TimeSpan.Zero, 5, QueueMessageEncoding.Base64);

    /// <summary>Fetch again once in-flight messages drop to this (QueuesOptions.NewBatchThreshold).</summary>
    public int NewBatchThreshold(bool dynamicSku) =>
        ExplicitNewBatchThreshold ?? BatchSize / 2 * (dynamicSku ? 1 : Environment.ProcessorCount);

    /// <summary>
    /// Reads extensions.queues; a value the host's options would refuse throws
    /// <see cref="FunctionsHostStartException"/> (the host does not start either).
    /// </summary>
    public static QueuesOptions Read(JsonElement hostJsonRoot)
    {
        if (!hostJsonRoot.TryGetProperty("extensions", out var extensions)
            || extensions.ValueKind != JsonValueKind.Object
            || !TryGet(extensions, "queues", out var queues)
            || queues.ValueKind != JsonValueKind.Object)
        {
            return Default;
        }

        var options = Default;
        if (Text(queues, "batchSize") is { } batch)
        {
            var value = Int(batch, "batchSize");
            options = value is >= 1 and <= 32 ? options with { BatchSize = value } : throw Refused("batchSize", batch, "must be from 1 to 32");
        }

        if (Text(queues, "newBatchThreshold") is { } threshold)
        {
            var value = Int(threshold, "newBatchThreshold");
            options = value >= 0 ? options with { ExplicitNewBatchThreshold = value } : throw Refused("newBatchThreshold", threshold, "must not be negative");
        }

        if (Text(queues, "maxPollingInterval") is { } polling)
        {
            // The configuration binder's TimeSpan conversion: "00:00:02" (a bare number is days, as on the host).
            var value = Span(polling, "maxPollingInterval");
            options = value >= MinimumPollingInterval ? options with { MaxPollingInterval = value } : throw Refused("maxPollingInterval", polling, "must not be less than 00:00:00.1");
        }

        if (Text(queues, "visibilityTimeout") is { } visibility)
        {
            options = options with { VisibilityTimeout = Span(visibility, "visibilityTimeout") };
        }

        if (Text(queues, "maxDequeueCount") is { } dequeue)
        {
            var value = Int(dequeue, "maxDequeueCount");
            options = value >= 1 ? options with { MaxDequeueCount = value } : throw Refused("maxDequeueCount", dequeue, "must not be less than 1");
        }

        if (Text(queues, "messageEncoding") is { } encoding)
        {
            options = Enum.TryParse<QueueMessageEncoding>(encoding, ignoreCase: true, out var value) && Enum.IsDefined(value)
                ? options with { MessageEncoding = value }
                : throw Refused("messageEncoding", encoding, "must be base64 or none");
        }

        return options;
    }

    private static bool TryGet(JsonElement element, string name, out JsonElement value)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (property.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                value = property.Value;
                return true;
            }
        }

        value = default;
        return false;
    }

    private static string? Text(JsonElement element, string name) =>
        TryGet(element, name, out var value) && value.ValueKind is JsonValueKind.String or JsonValueKind.Number
            ? value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText()
            : null;

    private static int Int(string text, string name) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : throw Refused(name, text, "is not a number");

    private static TimeSpan Span(string text, string name) =>
        TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) ? value : throw Refused(name, text, "is not a time span (hh:mm:ss)");

    private static FunctionsHostStartException Refused(string name, string value, string why) =>
        new($"host.json extensions.queues.{name} '{value}' {why}.");
}
