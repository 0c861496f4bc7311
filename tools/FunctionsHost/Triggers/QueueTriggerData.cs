using System.Globalization;
using System.Text;
using Azure.Storage.Queues.Models;
using Google.Protobuf;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// The invocation data the host sends an isolated worker for a queue message. The trigger value by the binding's
/// dataType (the host's GeneralScriptBindingProvider: String → string, Binary/Stream → byte[]; the queue extension's
/// StorageQueueMessageToStringConverter decodes the body as UTF-8), or, for an SDK-type parameter
/// (supportsDeferredBinding), ParameterBindingData of the QueueMessage as JSON (StorageQueueMessageToParameterBindingDataConverter,
/// source "AzureStorageQueues"). Trigger metadata is QueueTriggerBinding.CreateBindingData's, converted as
/// GrpcMessageConversionExtensions.ToRpc converts it: strings as string, DequeueCount (long) and the times
/// (DateTimeOffset) as Newtonsoft JSON, null values left out (ScriptInvocationContextExtensions.ShouldSkipBindingData).
/// </summary>
internal static class QueueTriggerData
{
    public static TriggerInput For(HostedFunction function, QueueMessage message, DateTimeOffset now)
    {
        var metadata = new Dictionary<string, TypedData>(StringComparer.Ordinal);
        var text = message.Body is null ? null : Utf8(message.Body.ToMemory());
        if (text is not null)
        {
            // "Don't provide the QueueTrigger binding data when the queue message is not a valid string."
            metadata["QueueTrigger"] = new TypedData { String = text };
        }

        metadata["DequeueCount"] = new TypedData { Json = message.DequeueCount.ToString(CultureInfo.InvariantCulture) };
        metadata["ExpirationTime"] = Time(message.ExpiresOn ?? DateTimeOffset.MaxValue);
        if (message.MessageId is not null)
        {
            metadata["Id"] = new TypedData { String = message.MessageId };
        }

        metadata["InsertionTime"] = Time(message.InsertedOn ?? now);
        metadata["NextVisibleTime"] = Time(message.NextVisibleOn ?? DateTimeOffset.MaxValue);
        if (message.PopReceipt is not null)
        {
            metadata["PopReceipt"] = new TypedData { String = message.PopReceipt };
        }

        return new TriggerInput(Value(function, message), metadata);
    }

    private static TypedData Value(HostedFunction function, QueueMessage message)
    {
        var body = message.Body?.ToArray() ?? [];
        if (string.Equals(function.DataType, "binary", StringComparison.OrdinalIgnoreCase)
            || string.Equals(function.DataType, "stream", StringComparison.OrdinalIgnoreCase))
        {
            return new TypedData { Bytes = ByteString.CopyFrom(body) };
        }

        if (function.DeferredBinding && function.DataType is null)
        {
            // new BinaryData(QueueMessage): System.Text.Json of the SDK model, which the worker's
            // QueueMessageJsonConverter reads back (MessageId, PopReceipt, MessageText, DequeueCount, …).
            return new TypedData
            {
                ModelBindingData = new ModelBindingData
                {
                    Version = "1.0",
                    Source = "AzureStorageQueues",
                    ContentType = "application/json",
                    Content = ByteString.CopyFrom(new BinaryData(message).ToArray()),
                },
            };
        }

        // String, and no dataType (a POCO): the message text; the worker deserializes a POCO from it.
        return new TypedData { String = Encoding.UTF8.GetString(body) };
    }

    /// <summary>Newtonsoft's default JSON for a DateTimeOffset (IsoDateTimeConverter-free: "yyyy-MM-ddTHH:mm:ss.FFFFFFFK").</summary>
    private static TypedData Time(DateTimeOffset value) =>
        new() { Json = "\"" + value.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss.FFFFFFFK", CultureInfo.InvariantCulture) + "\"" };

    private static string? Utf8(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.Span);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}
